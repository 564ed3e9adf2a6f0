import Foundation
import Hummingbird
import Store

/// The results as JSON: `GET /api/images` (newest first; `inbox`, `label`, `min_score`, `since`, `before`, `limit`;
/// keyset paging through `next`), `GET /api/images/{id}` (the image, every name it arrived under, its provenance and
/// detections), `GET /api/images/{id}/detections`, `GET /api/jobs/{id}`. Ids only: nothing from a request reaches
/// the file system. PostgreSQL work runs off the event loops.
enum ResultsAPI {
    static func register(on router: Router<BasicRequestContext>, database: Database, token: [UInt8]?) {
        router.get("api/images") { request, _ in
            guard HTTPListener.authorized(request, token) else { return HTTPListener.unauthorized }
            let filter: ImageFilter
            switch Self.filter(request.uri.queryParameters) {
            case let .success(f): filter = f
            case let .failure(message): return json(.badRequest, ["error": message.description])
            }
            let query = filter
            let result = await HTTPListener.offload { Result { try database.images(query) } }
            guard case let .success(images) = result else { return unavailable(result) }
            var body: [String: Any] = ["images": images.map(summary)]
            if images.count == filter.limit, let last = images.last { body["next_before"] = last.id }
            return json(.ok, body)
        }
        router.get("api/images/:id") { request, context in
            guard HTTPListener.authorized(request, token) else { return HTTPListener.unauthorized }
            guard let id = context.parameters.get("id", as: Int.self) else { return notFound }
            let result = await HTTPListener.offload { Result { try detail(id, database).map { encode($0) } } }
            guard case let .success(found) = result else { return unavailable(result) }
            return found.map { respond(.ok, $0) } ?? notFound
        }
        router.get("api/images/:id/detections") { request, context in
            guard HTTPListener.authorized(request, token) else { return HTTPListener.unauthorized }
            guard let id = context.parameters.get("id", as: Int.self) else { return notFound }
            let result = await HTTPListener.offload { Result { () -> [StoredDetection]? in
                guard try database.image(id: id) != nil else { return nil }
                return try database.detections(imageID: id)
            } }
            guard case let .success(found) = result else { return unavailable(result) }
            return found.map { json(.ok, ["image_id": id, "detections": $0.map(detection)]) } ?? notFound
        }
        router.get("api/jobs/:id") { request, context in
            guard HTTPListener.authorized(request, token) else { return HTTPListener.unauthorized }
            guard let id = context.parameters.get("id", as: Int.self) else { return notFound }
            let result = await HTTPListener.offload { Result { try database.job(id: id) } }
            guard case let .success(found) = result else { return unavailable(result) }
            return found.map { job in
                json(.ok, ["id": job.id, "image_id": job.imageID, "state": job.state, "attempt": job.attempt,
                           "max_attempts": job.maxAttempts, "last_error": nullable(job.lastError)])
            } ?? notFound
        }
    }

    struct BadParameter: Error, CustomStringConvertible { let description: String }

    /// The listing's filters from a query string (shared by the page and the API); a bad value is an error to show.
    static func filter(_ q: Parameters) -> Result<ImageFilter, BadParameter> {
        var filter = ImageFilter()
        filter.inbox = q.get("inbox").flatMap { $0.isEmpty ? nil : $0 }
        filter.label = q.get("label").flatMap { $0.isEmpty ? nil : $0 }
        if let text = q.get("min_score"), !text.isEmpty {
            guard let s = Double(text), s.isFinite, (0...1).contains(s) else { return .failure(BadParameter(description: "min_score must be a number from 0 to 1")) }
            filter.minScore = s
        }
        if let since = q.get("since"), !since.isEmpty {
            guard ISO8601DateFormatter().date(from: since) != nil else {
                return .failure(BadParameter(description: "since must be an ISO 8601 time, e.g. 2026-12-05T10:00:00Z"))
            }
            filter.since = since
        }
        if let text = q.get("before"), !text.isEmpty {
            guard let id = Int(text) else { return .failure(BadParameter(description: "before must be an image id")) }
            filter.beforeID = id
        }
        if let text = q.get("limit"), !text.isEmpty {
            guard let n = Int(text), (1...500).contains(n) else { return .failure(BadParameter(description: "limit must be from 1 to 500")) }
            filter.limit = n
        }
        return .success(filter)
    }

    static func detail(_ id: Int, _ database: Database) throws -> [String: Any]? {
        guard let image = try database.image(id: id) else { return nil }
        let summary = try database.imageSummary(id: id)
        var body: [String: Any] = summary.map(Self.summary) ?? ["id": image.id, "original_name": image.originalName, "inbox": image.inbox, "status": image.status]
        body["arrivals"] = try database.arrivals(imageID: id).map { ["inbox": $0.inbox, "original_name": $0.originalName, "arrived_at": $0.arrivedAt] }
        body["detections"] = try database.detections(imageID: id).map(detection)
        if let p = try database.provenance(imageID: id) {
            body["provenance"] = [
                "model_version": p.modelVersion, "weights_sha256": p.weightsSHA256, "vocabulary_version": nullable(p.vocabularyVersion),
                "settings": (try? JSONSerialization.jsonObject(with: Data(p.settingsJSON.utf8))) ?? [:],
                "timings_ms": (try? JSONSerialization.jsonObject(with: Data(p.timingsJSON.utf8))) ?? [:],
                "host": p.host, "worker": p.worker, "detected_at": p.detectedAt,
            ]
        }
        return body
    }

    static func summary(_ s: ImageSummary) -> [String: Any] {
        ["id": s.id, "original_name": s.originalName, "inbox": s.inbox, "sha256": s.sha256, "status": s.status,
         "width": nullable(s.width), "height": nullable(s.height), "received_at": s.receivedAt, "job_id": nullable(s.jobID),
         "job_state": nullable(s.jobState), "detections": s.detections]
    }

    static func detection(_ d: StoredDetection) -> [String: Any] {
        ["label": d.label, "prompt": nullable(d.prompt), "score": d.score, "box": [d.x0, d.y0, d.x1, d.y1]]
    }

    /// JSON null for nil (JSONSerialization cannot write an Optional).
    static func nullable<T>(_ value: T?) -> Any { value.map { $0 as Any } ?? NSNull() }

    static var notFound: Response { json(.notFound, ["error": "not found"]) }

    static func unavailable<T>(_ result: Result<T, Error>) -> Response {
        if case let .failure(error) = result { return json(.serviceUnavailable, ["error": "the database does not answer: \(error)"]) }
        return json(.internalServerError, ["error": "unexpected"])
    }

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any]) -> Response { respond(status, encode(object)) }

    static func encode(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
    }

    static func respond(_ status: HTTPResponse.Status, _ data: Data) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }
}
