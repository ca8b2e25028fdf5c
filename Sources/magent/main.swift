// magent: argv -> configuration -> run. All logic lives in MagentCore.
import CEventShim
import Glibc
import MagentCore

let arguments = CommandLine.arguments
let parser = CommandLineParser(programName: arguments.first ?? "magent", buildDate: String(cString: magent_build_date()))
switch parser.parse(Array(arguments.dropFirst())) {
case .exit(let status, let message):
    var bytes = Array(message.utf8)
    _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    exit(status)
case .run(let configuration):
    // SIGHUP reads the file again, under the same command line.
    var reload: ConfigurationSource? = nil
    if let path = configuration.configurationFile {
        let options = Array(arguments.dropFirst())
        reload = { parser.parse(options, configurationFile: path) }
    }
    exit(ProxyServer.run(configuration, reload: reload))
}
