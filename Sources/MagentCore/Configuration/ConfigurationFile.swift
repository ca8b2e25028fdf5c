// The configuration file (-c): `name = value` lines, `#` comments, one
// `server =` / `backup =` line per server in order. Read at start-up and again
// on SIGHUP; every error names the file and the line.
import Glibc

/// A refused configuration file: "path:line: message" (line 0: the whole file).
public struct ConfigurationFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let line: Int
    public let message: String

    public var description: String { line > 0 ? "\(path):\(line): \(message)" : "\(path): \(message)" }
}

public struct ConfigurationFile: Sendable, Equatable {
    /// One setting line.
    public struct Entry: Sendable, Equatable {
        public var setting: ConfigurationSetting
        public var value: String
        /// A switch's yes/no.
        public var on: Bool
        public var line: Int
    }

    public let path: String
    /// In file order.
    public let entries: [Entry]

    /// Larger files are refused rather than read.
    static let maximumSize = 1 << 20

    /// Reads and checks the file at `path`.
    public static func load(path: String) -> Result<ConfigurationFile, ConfigurationFileError> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ConfigurationFileError(path: path, line: 0, message: "cannot read: \(errorText(errno))")) }
        defer { close(fd) }
        var status = stat()
        if fstat(fd, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR {
            return .failure(ConfigurationFileError(path: path, line: 0, message: "is a directory"))
        }
        switch FileContents.read(fd, limit: maximumSize) {
        case .failure(.system(let code)):
            return .failure(ConfigurationFileError(path: path, line: 0, message: "cannot read: \(errorText(code))"))
        case .failure(.tooLarge):
            return .failure(ConfigurationFileError(path: path, line: 0, message: "larger than \(maximumSize) bytes"))
        case .success(let bytes):
            return parse(String(decoding: bytes, as: UTF8.self), path: path)
        }
    }

    /// Checks every line: known names, valid values, a setting other than
    /// `server`/`backup` at most once.
    public static func parse(_ text: String, path: String) -> Result<ConfigurationFile, ConfigurationFileError> {
        var entries: [Entry] = []
        var firstLine: [ConfigurationSetting: Int] = [:]
        var scratch = Configuration()
        // Split on bytes: Swift reads "\r\n" as one Character.
        for (index, lineBytes) in Array(text.utf8).split(separator: 10, omittingEmptySubsequences: false).enumerated() {
            let number = index + 1
            func failure(_ message: String) -> Result<ConfigurationFile, ConfigurationFileError> {
                .failure(ConfigurationFileError(path: path, line: number, message: message))
            }
            var line = Substring(String(decoding: lineBytes, as: UTF8.self))
            // A comment starts at a # at the start of the line or after a space or tab.
            var previous: Character = " "
            for position in line.indices {
                if line[position] == "#" && (previous == " " || previous == "\t") {
                    line = line[..<position]
                    break
                }
                previous = line[position]
            }
            let content = line.trimmingWhitespace()
            if content.isEmpty { continue }
            guard let equals = content.firstIndex(of: "=") else { return failure("expected 'name = value', found '\(content)'") }
            let name = String(content[..<equals].trimmingWhitespace())
            let value = String(content[content.index(after: equals)...].trimmingWhitespace())
            guard let setting = ConfigurationSetting(rawValue: name) else {
                return failure(name.isEmpty ? "a name is missing before '='" : "unknown setting '\(name)'")
            }
            if !setting.isList, let first = firstLine[setting] {
                return failure("'\(name)' is set twice (first on line \(first))")
            }
            firstLine[setting] = firstLine[setting] ?? number
            var on = true
            if setting.isSwitch {
                switch value.lowercased() {
                case "yes", "true", "on", "1": on = true
                case "no", "false", "off", "0": on = false
                default: return failure("invalid value '\(value)' for \(name): yes or no")
                }
            }
            if let expected = setting.apply(value, on: on, to: &scratch) {
                return failure("invalid value '\(value)' for \(name): \(expected)")
            }
            entries.append(Entry(setting: setting, value: value, on: on, line: number))
        }
        return .success(ConfigurationFile(path: path, entries: entries))
    }

    /// Applies every line, in order, to `configuration` (values were checked by `parse`).
    public func apply(to configuration: inout Configuration) {
        for entry in entries {
            _ = entry.setting.apply(entry.value, on: entry.on, to: &configuration)
        }
    }
}

extension ConfigurationFile {
    /// `path` from the current directory: the process changes to / when it
    /// goes to the background, and a reload must find the same file.
    public static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return path }
        let directory = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return directory.hasSuffix("/") ? directory + path : directory + "/" + path
    }
}

extension Substring {
    /// Without leading and trailing spaces, tabs and carriage returns.
    func trimmingWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[first...last]
    }
}
