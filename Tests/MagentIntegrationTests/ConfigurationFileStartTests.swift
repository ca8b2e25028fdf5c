// magent started with -c: the file's servers and settings take effect, the
// command line overrides them, and a bad file stops the start with file:line.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

@Suite(.serialized) struct ConfigurationFileStartTests {
    @Test func serversAndSettingsComeFromTheFile() throws {
        let servers = try (0..<2).map { _ in try Memcached() }
        let backup = try Memcached()
        defer { (servers + [backup]).forEach { $0.stop() } }
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try Environment.writeConfiguration([
            "# two primaries and a backup",
            "server = \(servers[0].address)",
            "server = \(servers[1].address)",
            "backup = \(backup.address)",
            "threads = 1",
            "port = 1   # overridden by the command line's -p",
        ], in: directory)
        let magent = try Magent(["-c", path])
        defer { magent.stop() }
        let client = try magent.client()
        client.expect("stats\r\n", "memcached agent v\(MagentVersion.number)\r\n"
                      + "matrix 1 -> \(servers[0].address), pool size 0\r\n"
                      + "matrix 2 -> \(servers[1].address), pool size 0\r\n" + "END\r\n")
        for number in 0..<20 {
            client.expect("set file\(number) 0 0 1\r\nx\r\n", "STORED\r\n")
        }
        // Placed as -s/-b in file order would place them, and copied to the backup.
        for number in 0..<20 {
            let key = "file\(number)"
            let placement = Placement.predict(key, primaries: servers.map(\.placementName), backups: [backup.placementName], mode: .modulo)
            #expect(try servers[placement.primary].getString(key) == "x", "\(key)")
            #expect(try backup.getString(key) == "x", "\(key)")
        }
    }

    @Test func commandLineServersReplaceTheFilesList() throws {
        let fileServer = try Memcached()
        let commandLineServer = try Memcached()
        defer { [fileServer, commandLineServer].forEach { $0.stop() } }
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try Environment.writeConfiguration(["server = \(fileServer.address)", "threads = 1"], in: directory)
        let magent = try Magent(["--config", path, "-s", commandLineServer.address])
        defer { magent.stop() }
        let client = try magent.client()
        client.expect("stats\r\n", "memcached agent v\(MagentVersion.number)\r\nmatrix 1 -> \(commandLineServer.address), pool size 0\r\nEND\r\n")
        client.expect("set only-here 0 0 1\r\ny\r\n", "STORED\r\n")
        #expect(try commandLineServer.getString("only-here") == "y")
        #expect(try fileServer.getString("only-here") == nil)
    }

    @Test func aBadFileStopsTheStartNamingFileAndLine() throws {
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try Environment.writeConfiguration(["server = 127.0.0.1:1", "", "request-timeout = soon"], in: directory)
        let result = try runToCompletion(try Environment.magentBinary(), ["-D", "-c", path], timeout: 10)
        #expect(result.exitCode == 1)
        #expect(result.standardError == "\(path):3: invalid value 'soon' for request-timeout: milliseconds from 1 to 3600000\n")
        let missing = try runToCompletion(try Environment.magentBinary(), ["-D", "-c", "\(directory)/none.conf"], timeout: 10)
        #expect(missing.exitCode == 1)
        #expect(missing.standardError == "\(directory)/none.conf: cannot read: No such file or directory\n")
    }
}
