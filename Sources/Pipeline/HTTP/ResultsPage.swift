import Foundation
import Hummingbird
import Store

/// The results in a browser, server-rendered with a little CSS and no script: `GET /` lists recent images newest
/// first as cards, each picture with its boxes drawn over it in SVG (colour per label, as `pipelined render` draws
/// them), filters by inbox, label, minimum score and time, and keyset paging ("Older" carries the last id, so every
/// page costs the same); `GET /images/{id}` shows one image large with every detection, its provenance and every name
/// it arrived under; `GET /images/{id}/file` serves the archived bytes, found by id only — nothing from a request
/// reaches the file system. Every string that came from users is escaped.
enum ResultsPage {
    static let boxesPerCard = 20

    static func register(on router: Router<BasicRequestContext>, database: Database, archiveRoot: String, token: [UInt8]?) {
        router.get("/") { request, _ in
            guard HTTPListener.authorized(request, token) else { return HTTPListener.unauthorized }
            let filter: ImageFilter
            switch ResultsAPI.filter(request.uri.queryParameters) {
            case let .success(f): filter = f
            case let .failure(message): return html(.badRequest, page("Results", "<p class=\"error\">\(escape(message.description))</p>"))
            }
            let result = await HTTPListener.offload { Result { () -> String in
                let images = try database.images(filter)
                let boxes = try database.detections(imageIDs: images.map(\.id), minScore: filter.minScore, label: filter.label,
                                                    perImage: boxesPerCard)
                return list(images, boxes, filter)
            } }
            switch result {
            case let .success(body): return html(.ok, body)
            case let .failure(error): return html(.serviceUnavailable, page("Results", "<p class=\"error\">The database does not answer: \(escape("\(error)"))</p>"))
            }
        }
        router.get("images/:id") { request, context in
            guard HTTPListener.authorized(request, token) else { return HTTPListener.unauthorized }
            guard let id = context.parameters.get("id", as: Int.self) else { return notFound }
            let result = await HTTPListener.offload { Result { () -> String? in
                guard let summary = try database.imageSummary(id: id) else { return nil }
                return detail(summary, try database.detections(imageID: id), try database.provenance(imageID: id),
                              try database.arrivals(imageID: id))
            } }
            switch result {
            case let .success(body): return body.map { html(.ok, $0) } ?? notFound
            case let .failure(error): return html(.serviceUnavailable, page("Image", "<p class=\"error\">\(escape("\(error)"))</p>"))
            }
        }
        router.get("images/:id/file") { request, context in
            guard HTTPListener.authorized(request, token) else { return HTTPListener.unauthorized }
            guard let id = context.parameters.get("id", as: Int.self) else { return notFound }
            let result = await HTTPListener.offload { Result { () -> (Data, String)? in
                guard let image = try database.image(id: id), image.status != "quarantined",
                      !image.archivePath.split(separator: "/").contains("..") else { return nil }
                let bytes = try Data(contentsOf: URL(fileURLWithPath: archiveRoot + "/" + image.archivePath))
                let type = image.archivePath.hasSuffix(".png") ? "image/png" : image.archivePath.hasSuffix(".jpg") ? "image/jpeg" : "application/octet-stream"
                return (bytes, type)
            } }
            guard case let .success(found) = result, let (bytes, type) = found else { return notFound }
            return Response(status: .ok, headers: [.contentType: type, .cacheControl: "private, max-age=86400, immutable"],
                            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
        }
    }

    // MARK: - Pages

    static func list(_ images: [ImageSummary], _ boxes: [Int: [StoredDetection]], _ filter: ImageFilter) -> String {
        var cards = ""
        for image in images {
            let found = boxes[image.id] ?? []
            cards += """
                <article class="card" data-image-id="\(image.id)">
                <a href="/images/\(image.id)">\(frame(image, found))</a>
                <p class="name" title="\(escape(image.inbox))/\(escape(image.originalName))">\(escape(image.originalName))</p>
                <p class="meta">\(escape(image.inbox)) · \(escape(image.jobState ?? image.status)) · \(image.detections) detection\(image.detections == 1 ? "" : "s") · \(escape(image.receivedAt))</p>
                <ul class="labels">\(found.prefix(5).map { "<li>\(swatch($0.label))\(escape($0.label)) \(String(format: "%.2f", $0.score))</li>" }.joined())</ul>
                </article>

                """
        }
        var query = [("inbox", filter.inbox), ("label", filter.label), ("min_score", filter.minScore > 0 ? "\(filter.minScore)" : nil), ("since", filter.since)]
        var nav = ""
        if images.count == filter.limit, let last = images.last {
            query.append(("before", "\(last.id)"))
            let href = "/?" + query.compactMap { k, v in v.map { "\(k)=\(percent($0))" } }.joined(separator: "&")
            nav = "<nav><a class=\"older\" href=\"\(escape(href))\">Older</a></nav>"
        }
        let form = """
            <form method="get" action="/">
            <label>Inbox <input name="inbox" value="\(escape(filter.inbox ?? ""))"></label>
            <label>Label <input name="label" value="\(escape(filter.label ?? ""))"></label>
            <label>Min score <input name="min_score" type="number" min="0" max="1" step="0.05" value="\(filter.minScore > 0 ? "\(filter.minScore)" : "")"></label>
            <label>Since <input name="since" placeholder="2026-12-05T00:00:00Z" value="\(escape(filter.since ?? ""))"></label>
            <button>Show</button>
            </form>
            """
        let empty = images.isEmpty ? "<p class=\"empty\">No images yet: drop some into an inbox, or change the filters.</p>" : ""
        return page("Results", form + empty + "<main class=\"grid\">\n" + cards + "</main>" + nav)
    }

    static func detail(_ image: ImageSummary, _ found: [StoredDetection], _ provenance: ImageProvenance?, _ arrivals: [ImageArrival]) -> String {
        let rows = found.map { d in
            "<tr><td>\(swatch(d.label))\(escape(d.label))</td><td>\(escape(d.prompt ?? ""))</td><td>\(String(format: "%.3f", d.score))</td>"
                + "<td>\([d.x0, d.y0, d.x1, d.y1].map { String(format: "%.0f", $0) }.joined(separator: ", "))</td></tr>"
        }.joined(separator: "\n")
        var body = "<p><a href=\"/\">← all results</a></p><h2>\(escape(image.originalName))</h2>"
        body += "<div class=\"large\">\(frame(image, found))</div>"
        body += "<h3>Detections (\(found.count))</h3><table><tr><th>label</th><th>prompt</th><th>score</th><th>box (x0, y0, x1, y1)</th></tr>\n\(rows)</table>"
        if let p = provenance {
            body += "<h3>Provenance</h3><dl><dt>model</dt><dd>\(escape(p.modelVersion))</dd><dt>weights</dt><dd>\(escape(p.weightsSHA256))</dd>"
            body += "<dt>vocabulary version</dt><dd>\(p.vocabularyVersion.map(String.init) ?? "—")</dd><dt>detected</dt><dd>\(escape(p.detectedAt)) on \(escape(p.host))</dd>"
            body += "<dt>settings</dt><dd><code>\(escape(p.settingsJSON))</code></dd><dt>timings (ms)</dt><dd><code>\(escape(p.timingsJSON))</code></dd></dl>"
        }
        body += "<h3>Arrived as</h3><ul>" + arrivals.map { "<li>\(escape($0.inbox))/\(escape($0.originalName)) — \(escape($0.arrivedAt))</li>" }.joined() + "</ul>"
        body += "<p class=\"meta\">image \(image.id) · sha256 \(escape(image.sha256)) · \(escape(image.jobState ?? image.status))</p>"
        return page(image.originalName, body)
    }

    /// The picture with its boxes: an SVG in the image's own pixel coordinates laid over it, so the boxes scale with it.
    static func frame(_ image: ImageSummary, _ found: [StoredDetection]) -> String {
        guard image.status != "quarantined", let w = image.width, let h = image.height else {
            return "<div class=\"frame missing\">\(escape(image.status))</div>"
        }
        let rects = found.map { d in
            let x0 = max(0, min(d.x0, Double(w))), y0 = max(0, min(d.y0, Double(h)))
            let x1 = max(x0, min(d.x1, Double(w))), y1 = max(y0, min(d.y1, Double(h)))
            return "<rect class=\"box\" x=\"\(x0)\" y=\"\(y0)\" width=\"\(x1 - x0)\" height=\"\(y1 - y0)\" stroke=\"\(LabelColour.hex(d.label))\">"
                + "<title>\(escape(d.label)) \(String(format: "%.2f", d.score))</title></rect>"
        }.joined()
        let stroke = max(2, Double(min(w, h)) / 150)
        return """
            <div class="frame" style="aspect-ratio: \(w) / \(h)"><img src="/images/\(image.id)/file" alt="\(escape(image.originalName))" loading="lazy">\
            <svg class="overlay" viewBox="0 0 \(w) \(h)" preserveAspectRatio="none" style="stroke-width: \(stroke)">\(rects)</svg></div>
            """
    }

    static func swatch(_ label: String) -> String { "<span class=\"swatch\" style=\"background:\(LabelColour.hex(label))\"></span>" }

    static func page(_ title: String, _ body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title)) — pipelined</title>
        <style>
        body { font: 14px/1.4 system-ui, "DejaVu Sans", sans-serif; margin: 0 1.5rem 2rem; color: #222; background: #fafafa; }
        header h1 { font-size: 1.3rem; margin: 1rem 0 .5rem; } header h1 a { color: inherit; text-decoration: none; }
        form { display: flex; flex-wrap: wrap; gap: .75rem; align-items: end; margin-bottom: 1rem; }
        form label { display: flex; flex-direction: column; font-size: .8rem; color: #555; }
        .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 1rem; }
        .card { background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: .5rem; overflow: hidden; }
        .frame { position: relative; width: 100%; background: #eee; }
        .frame img { display: block; width: 100%; height: 100%; }
        .frame .overlay { position: absolute; inset: 0; width: 100%; height: 100%; pointer-events: none; }
        .box { fill: none; vector-effect: non-scaling-stroke; stroke-width: 2px; }
        .large { max-width: 960px; }
        .name { font-weight: 600; margin: .4rem 0 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
        .meta { color: #666; font-size: .8rem; margin: .1rem 0; }
        .labels { list-style: none; padding: 0; margin: .3rem 0 0; font-size: .8rem; }
        .swatch { display: inline-block; width: .7rem; height: .7rem; margin-right: .3rem; border-radius: 2px; vertical-align: -1px; }
        table { border-collapse: collapse; } td, th { border-bottom: 1px solid #ddd; padding: .2rem .6rem; text-align: left; }
        code { word-break: break-all; } .error { color: #b00; } nav { margin-top: 1rem; }
        .missing { display: flex; align-items: center; justify-content: center; height: 160px; color: #888; }
        </style></head>
        <body><header><h1><a href="/">pipelined</a></h1></header>
        \(body)
        </body></html>
        """
    }

    /// HTML text and attribute escaping: the five characters that can end a text or an attribute.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for c in s {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(c)
            }
        }
        return out
    }

    static func percent(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }

    static var notFound: Response { html(.notFound, page("Not found", "<p>Not found. <a href=\"/\">All results</a></p>")) }

    static func html(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .contentSecurityPolicy: "default-src 'self'; style-src 'unsafe-inline'; img-src 'self'"],
                 body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
