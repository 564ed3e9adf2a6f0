import Foundation
import Testing
@testable import Detector

/// The evaluator against the official `lvis` package (tools/make_lvis_eval_fixtures.py), both protocols.
@Suite struct LVISEvaluatorTests {
    static func load(_ name: String) throws -> (LVISEvaluator, [LVISEvaluator.Result], Int, [String: [String: Double]]) {
        let url = Fixtures.root.appendingPathComponent("lvis_eval/\(name).json")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        let gt = try #require(json["gt"] as? [String: Any])
        func box(_ v: Any?) -> (x: Double, y: Double, w: Double, h: Double) {
            let b = (v as? [Double]) ?? (v as? [NSNumber])?.map(\.doubleValue) ?? [0, 0, 0, 0]
            return (b[0], b[1], b[2], b[3])
        }
        let images = (gt["images"] as? [[String: Any]] ?? []).map { i in
            LVISEvaluator.Image(id: i["id"] as! Int, negativeCategories: Set(i["neg_category_ids"] as! [Int]),
                                notExhaustiveCategories: Set(i["not_exhaustive_category_ids"] as! [Int]))
        }
        let categories = (gt["categories"] as? [[String: Any]] ?? []).map {
            LVISEvaluator.Category(id: $0["id"] as! Int, frequency: $0["frequency"] as! String)
        }
        let annotations = (gt["annotations"] as? [[String: Any]] ?? []).map { a in
            LVISEvaluator.Annotation(id: a["id"] as! Int, imageID: a["image_id"] as! Int, categoryID: a["category_id"] as! Int,
                                     bbox: box(a["bbox"]), area: (a["area"] as! NSNumber).doubleValue)
        }
        let results = (json["results"] as? [[String: Any]] ?? []).map { r in
            LVISEvaluator.Result(imageID: r["image_id"] as! Int, categoryID: r["category_id"] as! Int,
                                 bbox: box(r["bbox"]), score: (r["score"] as! NSNumber).doubleValue)
        }
        let expected = try #require(json["expected"] as? [String: [String: Double]])
        return (LVISEvaluator(images: images, categories: categories, annotations: annotations), results,
                json["fixed_top_k"] as! Int, expected)
    }

    @Test(arguments: ["mixed", "crowded_ties", "sparse", "good_detector"])
    func everyMetricEqualsTheOfficialPackage(_ name: String) throws {
        let (evaluator, results, topK, expected) = try Self.load(name)
        for (label, proto) in [("standard", LVISEvaluator.EvaluationProtocol.standard(maxDetsPerImage: 300)),
                               ("fixed", .fixedAP(topKPerCategory: topK))] {
            let got = evaluator.evaluate(results, protocol: proto)
            let want = try #require(expected[label])
            #expect(Set(got.map(\.0)) == Set(want.keys), "\(name) \(label): metric names \(got.map(\.0))")
            for (key, value) in got {
                guard let reference = want[key] else { continue }
                #expect(abs(value - reference) <= 1e-6, "\(name) \(label) \(key): \(value) vs lvis \(reference)")
            }
        }
    }
}
