import Foundation
import Store
import TestSupport
import Testing

/// The daemon's HTTP listener: metrics, health and readiness, and who may ask.
@Suite struct HTTPListenerTests {
    /// The port the daemon bound (it was asked for port 0), from its log.
    static func port(_ daemon: DaemonProcess) -> Int? {
        guard let line = daemon.log.split(separator: "\n").first(where: { $0.contains("http listening") }),
              let range = line.range(of: #"address=127\.0\.0\.1:(\d+)"#, options: .regularExpression) else { return nil }
        return Int(line[range].split(separator: ":").last ?? "")
    }

    /// Prometheus text exposition: `# HELP`/`# TYPE` comments, then `name{labels} value` lines. Returns the samples.
    static func parse(_ text: String) throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]),
                  line[..<space].range(of: #"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})?$"#, options: .regularExpression) != nil else {
                throw POSIXError(.EBADMSG)
            }
            samples[String(line[..<space])] = value
        }
        return samples
    }

    @Test func metricsCountTheImagesAndReadinessFollowsTheDatabase() throws {
        // A server of its own, so it can be stopped without disturbing other tests.
        let pg = TemporaryDirectory("http-pg")
        let cluster = EmbeddedCluster(directory: URL(fileURLWithPath: pg.file("pg")), durable: false)
        let url = try cluster.start()
        defer { cluster.stop(force: true) }
        let setup = try HarnessSetup(url: url, prefix: "http")
        let daemon = try setup.start(environment: ["PIPELINED_HTTP_LISTEN": "127.0.0.1:0"])
        defer { daemon.terminate() }
        #expect(eventually(timeout: 30) { Self.port(daemon) != nil }, "\(daemon.log)")
        let port = try #require(Self.port(daemon))
        #expect(try httpGet(port: port, path: "/healthz").status == 200)
        #expect(eventually(timeout: 10) { (try? httpGet(port: port, path: "/readyz").status) == 200 }, "\(daemon.log.suffix(2000))")

        for i in 0..<3 { FileManager.default.createFile(atPath: setup.inbox + "/p\(i).png", contents: TinyPNG.sample(seed: 70 + i, width: 64, height: 48)) }
        let db = Database(url: url)
        #expect(try eventually(timeout: 60) { try db.queueStatus().counts["done"] == 3 }, "\(daemon.log.suffix(2000))")
        let metrics = try httpGet(port: port, path: "/metrics")
        #expect(metrics.status == 200)
        let samples = try Self.parse(metrics.body)
        #expect(samples[#"pipelined_images_ingested_total{inbox="drop"}"#] == 3, "\(metrics.body)")
        #expect(samples[#"pipelined_images_done_total{inbox="drop"}"#] == 3)
        #expect(samples[#"pipelined_jobs{state="done"}"#] == 3)
        for stage in ["queue_wait", "decode", "detect", "record", "total"] {
            #expect(samples["pipelined_stage_duration_seconds_count{stage=\"\(stage)\"}"] == 3, "\(stage): \(metrics.body)")
        }
        #expect(samples["pipelined_detections_per_image_count"] == 3)
        #expect(metrics.body.contains("# TYPE pipelined_stage_duration_seconds histogram"))

        // The results as JSON: the three images, paged by id; one image with its names, detections and provenance.
        func object(_ path: String) throws -> (Int, [String: Any]) {
            let r = try httpGet(port: port, path: path)
            return (r.status, (try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any]) ?? [:])
        }
        let (listed, list) = try object("/api/images")
        let images = try #require(list["images"] as? [[String: Any]], "\(list)")
        #expect(listed == 200 && images.count == 3 && images.allSatisfy { $0["job_state"] as? String == "done" && ($0["detections"] as? Int ?? 0) >= 1 },
                "\(images)")
        let (_, page1) = try object("/api/images?limit=2")
        let next = try #require(page1["next_before"] as? Int, "\(page1)")
        let (_, page2) = try object("/api/images?limit=2&before=\(next)")
        #expect((page1["images"] as? [[String: Any]])?.count == 2 && (page2["images"] as? [[String: Any]])?.count == 1 && page2["next_before"] == nil)
        let id = try #require(images.first?["id"] as? Int)
        let (found, one) = try object("/api/images/\(id)")
        #expect(found == 200 && (one["arrivals"] as? [[String: Any]])?.count == 1 && !((one["detections"] as? [Any]) ?? []).isEmpty, "\(one)")
        let provenance = try #require(one["provenance"] as? [String: Any], "\(one)")
        #expect((provenance["timings_ms"] as? [String: Any])?.keys.contains("total") == true && provenance["model_version"] != nil, "\(provenance)")
        #expect(try object("/api/images/\(id)/detections").0 == 200)
        let jobID = try #require(images.first?["job_id"] as? Int)
        #expect(try object("/api/jobs/\(jobID)").1["state"] as? String == "done")
        #expect(try object("/api/images/999999").0 == 404 && object("/api/images/abc").0 == 404 && object("/api/jobs/0").0 == 404)
        #expect(try object("/api/images?min_score=2").0 == 400 && object("/api/images?since=yesterday").0 == 400)

        // An upload goes through the same ingest: a new photo ends done; the same bytes again are one image, two arrivals.
        let photo = TinyPNG.sample(seed: 99, width: 64, height: 48)
        let posted = try httpRequest("POST", port: port, path: "/api/images?name=from%20the%20web.png", body: photo)
        let receipt = (try? JSONSerialization.jsonObject(with: Data(posted.body.utf8)) as? [String: Any]) ?? [:]
        #expect(posted.status == 201 && receipt["duplicate"] as? Bool == false, "\(posted)")
        let uploadedJob = try #require(receipt["job_id"] as? Int, "\(posted)")
        #expect(eventually(timeout: 60) { (try? object("/api/jobs/\(uploadedJob)").1["state"] as? String) == "done" }, "\(daemon.log.suffix(2000))")
        let again = try httpRequest("POST", port: port, path: "/api/images?name=../../again.png", body: photo)
        let second = (try? JSONSerialization.jsonObject(with: Data(again.body.utf8)) as? [String: Any]) ?? [:]
        #expect(again.status == 200 && second["duplicate"] as? Bool == true && second["image_id"] as? Int == receipt["image_id"] as? Int, "\(again)")
        let uploaded = try object("/api/images/\(try #require(receipt["image_id"] as? Int))").1
        #expect(Set(((uploaded["arrivals"] as? [[String: Any]]) ?? []).compactMap { $0["original_name"] as? String }) == ["from the web.png", "again.png"],
                "\(uploaded)")
        #expect(try httpRequest("POST", port: port, path: "/api/images", body: Data()).status == 400)

        // The database goes away: not ready, and why; back: ready again.
        cluster.stop(force: true)
        #expect(eventually(timeout: 30, interval: 0.2) {
            guard let r = try? httpGet(port: port, path: "/readyz") else { return false }
            return r.status == 503 && r.body.contains("the database does not answer")
        }, "\(daemon.log.suffix(2000))")
        #expect(try httpGet(port: port, path: "/healthz").status == 200)
        try cluster.start()
        #expect(eventually(timeout: 60, interval: 0.2) { (try? httpGet(port: port, path: "/readyz").status) == 200 }, "\(daemon.log.suffix(2000))")
        #expect(daemon.terminate() == 0)
    }

    /// Off loopback a token is required (the daemon refuses to start without one); with one, every request but
    /// `/healthz` must carry it, and a wrong one is 401.
    @Test func tokensGuardEverythingButHealth() throws {
        let setup = try HarnessSetup(url: try TestDatabase.fresh(), prefix: "http-token")
        let open = try setup.start(environment: ["PIPELINED_HTTP_LISTEN": "0.0.0.0:0"])
        #expect(open.wait(timeout: 60) != 0)
        #expect(open.log.contains("is not a loopback address: set http.token_file"), "\(open.log)")

        let tokenFile = setup.dir.file("token")
        try "s3cret-token-0123456789".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let config = try setup.config(1)
        try (try String(contentsOfFile: config, encoding: .utf8) + "\n[http]\ntoken_file = \"\(tokenFile)\"\n")
            .write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try setup.start(1, config: config, environment: ["PIPELINED_HTTP_LISTEN": "127.0.0.1:0"])
        defer { daemon.terminate() }
        #expect(eventually(timeout: 30) { Self.port(daemon) != nil }, "\(daemon.log)")
        let port = try #require(Self.port(daemon))
        #expect(try httpGet(port: port, path: "/healthz").status == 200)
        #expect(try httpGet(port: port, path: "/metrics").status == 401)
        #expect(try httpGet(port: port, path: "/readyz", headers: ["Authorization": "Bearer s3cret-token-0123456788"]).status == 401)
        #expect(try httpGet(port: port, path: "/metrics", headers: ["Authorization": "Bearer s3cret-token-0123456789"]).status == 200)
        #expect(try httpGet(port: port, path: "/../../etc/passwd").status == 404)
    }
}
