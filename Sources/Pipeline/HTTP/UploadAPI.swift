import Foundation
import Hummingbird

/// What an upload became: the image (new, or the same bytes already known) and its job.
public struct UploadReceipt: Sendable {
    public var imageID: Int
    public var jobID: Int?
    public var duplicate: Bool

    public init(imageID: Int, jobID: Int?, duplicate: Bool) {
        (self.imageID, self.jobID, self.duplicate) = (imageID, jobID, duplicate)
    }
}

/// Why an upload was not ingested.
public struct UploadError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `POST /api/images?name=NAME[&questions=JSON]` with the image as the raw body: ingested exactly as a dropped file
/// (archive, dedupe by content, quarantine later if it does not decode) into the `upload` inbox, answered with the
/// image and job ids. The body may not exceed `limits.max_file_bytes` (413); it is read before anything is written.
enum UploadAPI {
    typealias Ingest = @Sendable (_ bytes: Data, _ name: String, _ questions: String?) throws -> UploadReceipt

    static func register(on router: Router<BasicRequestContext>, maxBytes: Int, token: [UInt8]?, ingest: @escaping Ingest) {
        router.post("api/images") { request, _ in
            guard HTTPListener.authorized(request, token) else { return HTTPListener.unauthorized }
            if let length = request.headers[.contentLength].flatMap(Int.init), length > maxBytes { return tooLarge(maxBytes) }
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: maxBytes) } catch { return tooLarge(maxBytes) }
            guard body.readableBytes > 0 else { return ResultsAPI.json(.badRequest, ["error": "the body is empty: send the image's bytes"]) }
            let q = request.uri.queryParameters
            let name = sanitized(q.get("name"))
            let questions = q.get("questions").flatMap { $0.isEmpty ? nil : $0 }
            let bytes = Data(body.readableBytesView)
            let result = await HTTPListener.offload { Result { try ingest(bytes, name, questions) } }
            switch result {
            case let .success(receipt):
                return ResultsAPI.json(receipt.duplicate ? .ok : .created, [
                    "image_id": receipt.imageID, "job_id": ResultsAPI.nullable(receipt.jobID), "duplicate": receipt.duplicate,
                    "original_name": name, "image": "/api/images/\(receipt.imageID)",
                ])
            case let .failure(error):
                return ResultsAPI.json(.serviceUnavailable, ["error": "not ingested: \(error)"])
            }
        }
    }

    /// The name an upload is recorded under: its last path component, without control characters, at most 200
    /// bytes; "upload" when nothing is left. (It only names the arrival; the bytes are stored by hash.)
    static func sanitized(_ name: String?) -> String {
        let last = (name ?? "").split(separator: "/").last.map(String.init) ?? ""
        var cleaned = String(String.UnicodeScalarView(last.unicodeScalars.filter { !CharacterSet.controlCharacters.contains($0) }))
            .trimmingCharacters(in: .whitespaces)
        while cleaned.utf8.count > 200 { cleaned.removeLast() }
        return cleaned.isEmpty || cleaned == "." || cleaned == ".." ? "upload" : cleaned
    }

    static func tooLarge(_ maxBytes: Int) -> Response {
        ResultsAPI.json(.contentTooLarge, ["error": "the upload exceeds limits.max_file_bytes (\(maxBytes) bytes)"])
    }
}
