import Foundation
import OpenAPIRuntime

/// A file read in chunks, as the body of a request or response: checkpoints and datasets travel
/// as streams and are never held whole in memory.
public struct FileChunks: AsyncSequence, Sendable {
    public typealias Element = ArraySlice<UInt8>
    public let path: String
    public let chunkSize: Int
    /// The byte to start at, and how many bytes to send (nil: to the end): a `Range` request.
    public let offset: UInt64
    public let length: Int64?

    public init(path: String, chunkSize: Int = 256 * 1024, offset: UInt64 = 0, length: Int64? = nil) {
        self.path = path
        self.chunkSize = chunkSize
        self.offset = offset
        self.length = length
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let path: String
        let chunkSize: Int
        let offset: UInt64
        var remaining: Int64
        var handle: FileHandle?
        var done = false

        public mutating func next() async throws -> ArraySlice<UInt8>? {
            guard !done else { return nil }
            if handle == nil {
                guard let opened = FileHandle(forReadingAtPath: path) else {
                    throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
                }
                if offset > 0 { try opened.seek(toOffset: offset) }
                handle = opened
            }
            guard remaining > 0, let data = try handle?.read(upToCount: Int(Swift.min(Int64(chunkSize), remaining))), !data.isEmpty else {
                done = true
                try? handle?.close()
                return nil
            }
            remaining -= Int64(data.count)
            return ArraySlice(data)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(path: path, chunkSize: chunkSize, offset: offset, remaining: length ?? .max)
    }

    /// The file as a body of known length, read once.
    public static func body(path: String) throws -> HTTPBody {
        let size = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value ?? 0
        return HTTPBody(FileChunks(path: path), length: .known(size), iterationBehavior: .single)
    }
}

/// A body was longer than its limit.
public struct BodyTooLarge: Error, CustomStringConvertible {
    public let limit: Int64
    public var description: String { "the body is over \(limit) bytes" }
}

extension HTTPBody {
    /// Writes the body to `url` chunk by chunk (replacing the file), and returns its size. Over
    /// `limit` bytes it stops, removes the file and throws ``BodyTooLarge``.
    @discardableResult
    public func write(to url: URL, limit: Int64 = .max) async throws -> Int64 {
        if case .known(let length) = length, length > limit { throw BodyTooLarge(limit: limit) }
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        return try await write(to: url, limit: limit, appending: false)
    }

    /// Appends the body to the file at `url` (a resumed download), keeping what is there when
    /// the transfer breaks; returns the bytes appended.
    @discardableResult
    public func append(to url: URL) async throws -> Int64 {
        if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        return try await write(to: url, limit: .max, appending: true)
    }

    private func write(to url: URL, limit: Int64, appending: Bool) async throws -> Int64 {
        guard let handle = FileHandle(forWritingAtPath: url.path) else {
            throw CocoaError(.fileWriteNoPermission, userInfo: [NSFilePathErrorKey: url.path])
        }
        if appending { try handle.seekToEnd() }
        var written: Int64 = 0
        do {
            for try await chunk in self {
                written += Int64(chunk.count)
                if written > limit { throw BodyTooLarge(limit: limit) }
                try chunk.withUnsafeBytes { try handle.write(contentsOf: $0) }
            }
            // On disk before anyone is told it is stored.
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            if !appending { try? FileManager.default.removeItem(at: url) }
            throw error
        }
        return written
    }
}
