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

/// The operating point a model's score threshold comes from: the F1-best "keep scores above t" at IoU 0.5, by LVIS's
/// matching and ignore rules.
@Suite struct OperatingPointTests {
    typealias E = LVISEvaluator
    static let evaluator = E(
        images: [E.Image(id: 1, negativeCategories: [3], notExhaustiveCategories: [])],
        categories: [E.Category(id: 1, frequency: "f"), E.Category(id: 2, frequency: "r"), E.Category(id: 3, frequency: "c")],
        annotations: [E.Annotation(id: 1, imageID: 1, categoryID: 1, bbox: (0, 0, 10, 10), area: 100),
                      E.Annotation(id: 2, imageID: 1, categoryID: 1, bbox: (50, 50, 10, 10), area: 100)])

    static func result(_ category: Int, _ box: (Double, Double, Double, Double), _ score: Double) -> E.Result {
        E.Result(imageID: 1, categoryID: category, bbox: box, score: score)
    }

    @Test func theBestF1PrefixSetsTheThreshold() throws {
        let results = [
            Self.result(1, (0, 0, 10, 10), 0.9),     // right
            Self.result(3, (20, 20, 10, 10), 0.8),   // wrong: category 3 is verified absent
            Self.result(1, (51, 50, 10, 10), 0.6),   // right
            Self.result(1, (30, 0, 10, 10), 0.3),    // wrong
            Self.result(2, (0, 0, 10, 10), 0.95),    // ignored: category 2 is not labelled for the image
        ]
        let point = try #require(Self.evaluator.report(results).operatingPoint)
        // Kept 1: F1 2/3; kept 2: 1/2; kept 3: 4/5; kept 4: 2/3. Best: the first three, threshold between 0.6 and 0.3.
        #expect(abs(point.f1 - 0.8) < 1e-12 && abs(point.precision - 2.0 / 3) < 1e-12 && point.recall == 1)
        #expect(abs(point.threshold - 0.45) < 1e-12)
    }

    @Test func equalScoresAreKeptOrDroppedTogether() throws {
        // A right and a wrong box at the same score: a threshold cannot keep one without the other.
        let results = [Self.result(1, (0, 0, 10, 10), 0.5), Self.result(1, (30, 0, 10, 10), 0.5), Self.result(1, (50, 50, 10, 10), 0.2)]
        let point = try #require(Self.evaluator.report(results).operatingPoint)
        #expect(abs(point.f1 - 0.8) < 1e-12 && abs(point.threshold - 0.1) < 1e-12, "\(point)")
    }

    @Test func nothingRightMeansNoThreshold() {
        #expect(Self.evaluator.report([Self.result(1, (30, 0, 10, 10), 0.9)]).operatingPoint == nil)
        let unlabelled = E(images: [E.Image(id: 1, negativeCategories: [1], notExhaustiveCategories: [])],
                           categories: [E.Category(id: 1, frequency: "f")], annotations: [])
        #expect(unlabelled.report([Self.result(1, (0, 0, 10, 10), 0.9)]).operatingPoint == nil)
    }
}
