import Foundation
import HTTPTypes
import OpenAPIRuntime
import RecurAPI
import RecurStore

/// Datasets by content: `recur sweep create` uploads the creator's file under its SHA-256, and
/// workers on any machine download it by that hash, resuming a cut transfer with `Range`.
extension CoordinatorAPI {
    func checkDataset(_ input: Operations.CheckDataset.Input) async throws -> Operations.CheckDataset.Output {
        let sha = try datasetHash(input.path.sha256)
        guard let size = coordinator.intactDatasetSize(sha256: sha) else { return .notFound(.init()) }
        return .ok(.init(headers: .init(contentLength: Int(size))))
    }

    func getDataset(_ input: Operations.GetDataset.Input) async throws -> Operations.GetDataset.Output {
        let sha = try datasetHash(input.path.sha256)
        guard let size = coordinator.intactDatasetSize(sha256: sha) else { throw unknownDataset(sha) }
        let file = coordinator.store.datasetFile(sha256: sha).path
        if let header = input.headers.range, header.count > 100 { throw APIFailure.badRequest("Range: must be at most 100 characters") }
        guard let header = input.headers.range, let (start, end) = try byteRange(header, size: size) else {
            await coordinator.countDatasetDownload()
            return .ok(
                .init(
                    headers: .init(contentLength: Int(size)),
                    body: .binary(HTTPBody(FileChunks(path: file), length: .known(size), iterationBehavior: .single))
                )
            )
        }
        await coordinator.countDatasetDownload()
        let length = end - start + 1
        let body = HTTPBody(FileChunks(path: file, offset: UInt64(start), length: length), length: .known(length), iterationBehavior: .single)
        return .partialContent(
            .init(headers: .init(contentLength: Int(length), contentRange: "bytes \(start)-\(end)/\(size)"), body: .binary(body))
        )
    }

    /// Streams the body to a partial file, hashing it, and keeps it only when the hash is the path's.
    func uploadDataset(_ input: Operations.UploadDataset.Input) async throws -> Operations.UploadDataset.Output {
        let sha = try datasetHash(input.path.sha256)
        let store = coordinator.store
        if let size = coordinator.intactDatasetSize(sha256: sha) { return .ok(.init(body: .json(.init(sha256: sha, bytes: size)))) }
        guard case .binary(let body) = input.body else { throw APIFailure.badRequest("the body must be application/octet-stream") }
        let part = try store.datasetPartFile()
        let bytes = try await receive(body, into: part, limit: datasetLimit, what: "dataset", option: "--max-dataset-bytes", file: "CSV file")
        guard try store.adoptDataset(part, sha256: sha) else {
            throw APIFailure(
                .unprocessableContent,
                .datasetMismatch,
                "the uploaded bytes do not hash to \(sha); send the file whose SHA-256 is in the path"
            )
        }
        return .created(.init(body: .json(.init(sha256: sha, bytes: bytes))))
    }

    private func datasetHash(_ text: String) throws -> String {
        guard SweepStore.isDatasetHash(text) else { throw APIFailure.badRequest("sha256: must be 64 lowercase hex digits") }
        return text
    }

    private func unknownDataset(_ sha: String) -> APIFailure {
        APIFailure(.notFound, .unknownDataset, "the coordinator holds no dataset \(sha); recur sweep create uploads a sweep's dataset")
    }

    /// `bytes=START-` or `bytes=START-END` (END clamped to the last byte), or nil for any other
    /// form, which HTTP lets a server ignore (the whole file is sent). A START past the end is 416.
    func byteRange(_ header: String, size: Int64) throws -> (Int64, Int64)? {
        let parts = header.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bytes" else { return nil }
        let bounds = parts[1].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard bounds.count == 2, bounds[0].allSatisfy(\.isNumber), let start = Int64(bounds[0]), start >= 0 else { return nil }
        var end = size - 1
        if !bounds[1].isEmpty {
            guard bounds[1].allSatisfy(\.isNumber), let last = Int64(bounds[1]), last >= start else { return nil }
            end = min(last, size - 1)
        }
        guard start < size else {
            throw APIFailure(.rangeNotSatisfiable, .rangeNotSatisfiable, "Range: the dataset has \(size) bytes; start below that")
        }
        return (start, end)
    }
}

/// The generated code writes header values URI-escaped (`bytes%20100-199%2F200`); `Content-Range`
/// is defined with a space and a slash (RFC 9110), so it is unescaped on the way out.
struct ContentRangeMiddleware: ServerMiddleware {
    func intercept(
        _ request: HTTPRequest,
        body: HTTPBody?,
        metadata: ServerRequestMetadata,
        operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var (response, responseBody) = try await next(request, body, metadata)
        if let range = response.headerFields[.contentRange], let plain = range.removingPercentEncoding {
            response.headerFields[.contentRange] = plain
        }
        return (response, responseBody)
    }
}
