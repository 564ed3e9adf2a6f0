import Detector
import Foundation
import Pipeline
@testable import Stages
import Testing

/// What a labels file can be refused for on its own, before the database is asked: the LVIS/COCO reader's checks
/// (`LVISDataset(json:)`) and the labels inbox's own rules (`LabelImporter.validate`).
@Suite struct LabelRulesTests {
    static let good = """
        {"categories": [{"id": 1, "name": "red star"}, {"id": 2, "name": "blue ring"}, {"id": 3, "name": "green cube"}],
         "images": [{"id": 10, "file_name": "a.png", "width": 40, "height": 30, "neg_category_ids": [3],
                     "not_exhaustive_category_ids": [2]},
                    {"id": 11, "file_name": "b.png", "caption": "a red star left of a blue ring"}],
         "annotations": [{"id": 1, "image_id": 10, "category_id": 1, "bbox": [1, 2, 10, 8], "area": 80, "iscrowd": 0},
                         {"id": 2, "image_id": 10, "category_id": 2, "bbox": [20.5, 3, 5, 5]},
                         {"id": 3, "image_id": 11, "tokens_positive": [[2, 10]], "bbox": [0, 0, 4, 4]}],
         "info": {"description": "ignored"}}
        """

    @Test func parsesCategoriesImagesBoxesAndSpans() throws {
        let file = try LabelImporter.validate(Data(Self.good.utf8))
        #expect(file.categories.map(\.id) == [1, 2, 3] && file.categories.map(\.name) == ["red star", "blue ring", "green cube"])
        #expect(file.images.map { LabelImporter.key(of: $0.id, in: file) } == ["a.png", "b.png"])
        #expect(file.listedNegatives[10] == [3] && file.images[0].notExhaustiveCategories == [2])
        #expect(file.listedNegatives[11] == nil && file.images[1].negativeCategories == [1, 2, 3], "COCO reading: all absent are negative")
        #expect(file.sizes[10]! == (40, 30) && file.captions[11] == "a red star left of a blue ring")
        let boxes = LabelImporter.boxes(of: file)
        #expect(boxes.map(\.position) == [0, 1, 2])
        #expect(boxes[1].numbers == [20.5, 3, 5, 5] && boxes[1].categoryID == 2)
        #expect(boxes[2].spans == [2..<10] && boxes[2].categoryID == nil)
    }

    /// Ids a file leaves out are made up after its own, so the evaluator can still tell boxes apart.
    @Test func annotationsWithoutIDsGetFreshOnes() throws {
        let file = try LVISDataset(json: Data(#"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}, {"id": 4, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}]}"#.utf8))
        #expect(file.annotations.map(\.id) == [5, 4] && file.annotationPositions == [5: 0, 4: 1])
    }

    /// Each case: a broken file and a word its reason must contain.
    static let broken: [(String, String, String)] = [
        ("empty", "", "malformed JSON"),
        ("truncated", #"{"images": [{"id": 1, "file_name": "a.png"}"#, "malformed JSON"),
        ("not an object", "[1, 2]", "not a JSON object"),
        ("no images", #"{"annotations": []}"#, "no \"images\""),
        ("images empty", #"{"images": []}"#, "nothing to label"),
        ("no images at all", #"{"categories": [{"id": 1, "name": "x"}]}"#, "nothing to label"),
        ("images not a list", #"{"images": {"id": 1}}"#, "not a list"),
        ("image not object", #"{"images": [5]}"#, "images[0] is not an object"),
        ("image without id", #"{"images": [{"file_name": "a.png"}]}"#, "has no id"),
        ("string id", #"{"images": [{"id": "1", "file_name": "a.png"}]}"#, "not an integer"),
        ("boolean id", #"{"images": [{"id": true, "file_name": "a.png"}]}"#, "not an integer: true"),
        ("string id quoted as written", #"{"images": [{"id": "7", "file_name": "a.png"}]}"#, #"not an integer: "7""#),
        ("boolean category id", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "category_id": true, "bbox": [0, 0, 1, 1]}]}"#, "not an integer: true"),
        ("fractional id", #"{"images": [{"id": 1.5, "file_name": "a.png"}]}"#, "not an integer"),
        ("nameless image", #"{"images": [{"id": 1}]}"#, "names no image"),
        ("empty file name", #"{"images": [{"id": 1, "file_name": ""}]}"#, "non-empty"),
        ("bad sha", #"{"images": [{"id": 1, "sha256": "xyz"}]}"#, "SHA-256"),
        ("zero size", #"{"images": [{"id": 1, "file_name": "a.png", "width": 0, "height": 5}]}"#, "size"),
        ("width only", #"{"images": [{"id": 1, "file_name": "a.png", "width": 5}]}"#, "has no height"),
        ("duplicate image id", #"{"images": [{"id": 1, "file_name": "a.png"}, {"id": 1, "file_name": "b.png"}]}"#, "image id 1 appears twice"),
        ("duplicate file name", #"{"images": [{"id": 1, "file_name": "a.png"}, {"id": 2, "file_name": "a.png"}]}"#, "a.png appears twice"),
        ("duplicate category id", #"{"categories": [{"id": 1, "name": "x"}, {"id": 1, "name": "y"}], "images": [{"id": 1, "file_name": "a"}]}"#, "category id 1"),
        ("duplicate category name", #"{"categories": [{"id": 1, "name": "x"}, {"id": 2, "name": "x"}], "images": [{"id": 1, "file_name": "a"}]}"#, "\"x\" appears twice"),
        ("nameless category", #"{"categories": [{"id": 1, "name": " "}], "images": [{"id": 1, "file_name": "a"}]}"#, "has no name"),
        ("undefined negative", #"{"images": [{"id": 1, "file_name": "a", "neg_category_ids": [4]}]}"#, "does not define"),
        ("negative listed twice", #"{"categories": [{"id": 4, "name": "x"}], "images": [{"id": 1, "file_name": "a", "neg_category_ids": [4, 4]}]}"#, "twice"),
        ("annotation unknown image", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}]}"#, "image id 2"),
        ("annotation undefined category", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "category_id": 9, "bbox": [0, 0, 1, 1]}]}"#, "category id 9"),
        ("bbox three numbers", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}]}"#, "four numbers"),
        ("bbox strings", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": ["0", 0, 1, 1]}]}"#, "four numbers"),
        ("bbox without area", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 0, 1]}]}"#, "no area"),
        ("negative coordinate", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [-3, 0, 2, 1]}]}"#, "outside"),
        ("box past the declared size", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a", "width": 10, "height": 10}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [5, 5, 6, 2]}]}"#, "outside"),
        ("huge number", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1e400, 1]}]}"#, "malformed"),
        ("positive and negative", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a", "neg_category_ids": [1]}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}]}"#, "negative"),
        ("neither category nor spans", #"{"images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "bbox": [0, 0, 1, 1]}]}"#, "neither"),
        ("spans without caption", #"{"images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "tokens_positive": [[0, 1]], "bbox": [0, 0, 1, 1]}]}"#, "no caption"),
        ("span past the caption", #"{"images": [{"id": 1, "file_name": "a", "caption": "a cat"}], "annotations": [{"image_id": 1, "tokens_positive": [[2, 9]], "bbox": [0, 0, 1, 1]}]}"#, "inside the caption"),
        ("reversed span", #"{"images": [{"id": 1, "file_name": "a", "caption": "a cat"}], "annotations": [{"image_id": 1, "tokens_positive": [[3, 2]], "bbox": [0, 0, 1, 1]}]}"#, "inside the caption"),
        ("duplicate annotation id", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a"}], "annotations": [{"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}, {"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}]}"#, "annotation id 5"),
        ("same box twice", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}, {"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}]}"#, "repeats"),
        ("negative and not exhaustive", #"{"categories": [{"id": 4, "name": "x"}], "images": [{"id": 1, "file_name": "a", "neg_category_ids": [4], "not_exhaustive_category_ids": [4]}]}"#, "both negative"),
        ("negative id past Int's range", #"{"categories": [{"id": 4, "name": "x"}], "images": [{"id": 1, "file_name": "a", "neg_category_ids": [1e300]}]}"#, "not a category id"),
        ("boolean negative id", #"{"categories": [{"id": 4, "name": "x"}], "images": [{"id": 1, "file_name": "a", "neg_category_ids": [false]}]}"#, "holds false,"),
        ("image id past Int's range", #"{"images": [{"id": -1e300, "file_name": "a"}]}"#, "not an integer"),
        ("category named by a newline", #"{"categories": [{"id": 1, "name": "\n"}], "images": [{"id": 1, "file_name": "a"}]}"#, "has no name"),
        ("null category id", #"{"categories": [{"id": 1, "name": "x"}], "images": [{"id": 1, "file_name": "a"}], "annotations": [{"image_id": 1, "category_id": null, "bbox": [0, 0, 1, 1]}]}"#, "not an integer: null"),
        ("spans not pairs", #"{"images": [{"id": 1, "file_name": "a", "caption": "a cat"}], "annotations": [{"image_id": 1, "tokens_positive": [0, 1], "bbox": [0, 0, 1, 1]}]}"#, "pairs"),
        ("nested beyond reason", String(repeating: "[", count: 200_000) + String(repeating: "]", count: 200_000), "JSON"),
        ("NUL in a file name", #"{"images": [{"id": 1, "file_name": "a\u0000b"}]}"#, "NUL"),
        ("NUL in a caption", #"{"images": [{"id": 1, "file_name": "a", "caption": "a\u0000"}]}"#, "NUL"),
        ("vocabulary not a string", #"{"vocabulary": 3, "images": [{"id": 1, "file_name": "a"}]}"#, "vocabulary"),
    ]

    @Test(arguments: broken.indices)
    func refusesABrokenFileWithAReason(_ index: Int) {
        let (name, text, word) = Self.broken[index]
        #expect {
            _ = try LabelImporter.validate(Data(text.utf8))
        } throws: { error in
            let reason = "\(error)"
            let ok = error is LabelError && reason.contains(word)
            if !ok { Issue.record("\(name): reason \"\(reason)\" lacks \"\(word)\"") }
            return ok
        }
    }

    @Test func refusesBytesThatAreNotUTF8() {
        var bytes = Data(#"{"images": [{"id": 1, "file_name": "a"#.utf8)
        bytes.append(contentsOf: [0xC3, 0x28, 0xFF])
        bytes.append(contentsOf: Data(#""}]}"#.utf8))
        #expect(throws: LabelError.self) { _ = try LabelImporter.validate(bytes) }
    }

    @Test func splitIsDecidedByContentAndKeepsTheFraction() {
        var settings = LabelSettings()
        settings.heldoutFraction = 0.25
        let shas = (0..<2000).map { i in String(format: "%08x", UInt32(truncatingIfNeeded: i &* 2_654_435_761)) + String(repeating: "0", count: 56) }
        let heldout = shas.filter { settings.split(sha256: $0) == "heldout" }.count
        #expect(abs(Double(heldout) / 2000 - 0.25) < 0.03)
        #expect(shas.map { settings.split(sha256: $0) } == shas.map { settings.split(sha256: $0) })
    }
}
