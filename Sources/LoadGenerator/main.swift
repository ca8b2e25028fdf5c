// magent-loadgen: memcached load that checks every reply (scripts/bench.sh).
import CEventShim
import Glibc

magent_ignore_sigpipe()
guard let options = LoadOptions.parse(Array(CommandLine.arguments.dropFirst())) else {
    print(LoadOptions.usage)
    exit(2)
}
exit(LoadGenerator(options: options).run())
