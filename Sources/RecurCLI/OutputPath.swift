import Foundation
import RecurForecast

/// Where a command writes a file it makes (`export -o`, `train --out`, `predict --out`): a new
/// path, or an existing regular file that is none of the command's inputs and no SQLite
/// database. A directory, a device, the database being read or the data being predicted is
/// never replaced (each once was, by a rename or an atomic write over it).
enum OutputPath {
    /// Throws a one-line error naming `option` when `path` must not be written.
    static func check(_ path: String, option: String, example: String, inputs: [String]) throws {
        switch FileKind(path: path) {
        case .missing: return
        case .regular: break
        case .directory: throw CLIError("\(option) \(path): is a directory; give a file path, e.g. \(path)/\(example)")
        case .other: throw CLIError("\(option) \(path): is not a regular file (a device or a pipe); give a file path")
        }
        for input in inputs where sameFile(path, input) {
            throw CLIError("\(option) \(path): is this command's input \(input); give another path")
        }
        if isSQLite(path) { throw CLIError("\(option) \(path): is an SQLite database; give another path") }
    }

    /// Whether the two paths name one file (same device and inode), links and `./` included.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat()
        var sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// Whether the file starts with SQLite's 16-byte header.
    static func isSQLite(_ path: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let header = (try? handle.read(upToCount: 16)) ?? Data()
        return header == Data("SQLite format 3\0".utf8)
    }
}
