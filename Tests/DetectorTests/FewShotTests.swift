import Detector
import Testing

/// MDETR's few-shot LVIS records and subsets, and repeat-factor sampling.
@Suite struct FewShotTests {
    /// 100 images; category 1 in every image, 2 in every 10th, 3 (rare) in images 0 and 50 only. Every image lists
    /// category 4 as negative, and every odd image lists 2 as negative too.
    static func dataset() -> LVISDataset {
        var annotations: [LVISEvaluator.Annotation] = []
        var images: [LVISEvaluator.Image] = []
        func box(_ image: Int, _ category: Int) {
            annotations.append(.init(id: annotations.count + 1, imageID: image, categoryID: category, bbox: (1, 2, 3, 4), area: 12))
        }
        for i in 0..<100 {
            box(i, 1)
            if i % 10 == 0 { box(i, 2); box(i, 2) }
            if i == 0 || i == 50 { box(i, 3) }
            images.append(.init(id: i, negativeCategories: i % 2 == 1 ? [4, 2] : [4], notExhaustiveCategories: []))
        }
        return LVISDataset(images: images, categories: [.init(id: 1, name: "a", frequency: "f"), .init(id: 2, name: "b", frequency: "c"),
                                                        .init(id: 3, name: "c", frequency: "r"), .init(id: 4, name: "d", frequency: "r")],
                           annotations: annotations)
    }

    @Test func recordsAreOnePerPositiveCategoryWithAllItsBoxesAndOnePerNegative() {
        let records = FewShot.records(Self.dataset(), images: [0, 1])
        #expect(records.map(\.imageID) == [0, 0, 0, 0, 1, 1, 1])
        #expect(records.map(\.categoryID) == [1, 2, 3, 4, 1, 2, 4])
        #expect(records[1].boxes.count == 2)                      // both boxes of category 2 in one record
        #expect(records.filter { !$0.isPositive }.map(\.categoryID) == [4, 2, 4])
    }

    @Test func theClassBalancedSubsetReachesTheRareCategoriesFirst() {
        let d = Self.dataset()
        let subset = FewShot.classBalancedSubset(d, fraction: 0.05)
        #expect(subset.count == 5)
        // Picks go to the least-represented category: both images of the rare category 3 are taken, and category 2
        // (every 10th image) is represented, which 5 random images out of 100 would often miss.
        #expect(subset.isSuperset(of: [0, 50]))
        #expect(FewShot.classBalancedSubset(d, fraction: 0.05) == subset, "deterministic for a seed")
        #expect(FewShot.classBalancedSubset(d, fraction: 1).count == 100)
    }

    @Test func repeatFactorsFavourRareCategoriesAndSampleThemMoreOften() {
        let d = Self.dataset()
        let factors = FewShot.repeatFactors(d, threshold: 0.08)
        #expect(factors[1] == 1)                                   // in every image
        #expect(factors[2] == 1)                                   // √(0.08 / 0.1) < 1: never below once
        #expect(abs(factors[3]! - 2) < 1e-12)                      // √(0.08 / 0.02)
        let records = FewShot.records(d)
        var rng = SplitMix64(seed: 3)
        let epoch = FewShot.repeatedEpoch(factors: FewShot.recordFactors(records, categories: factors), rng: &rng)
        let rare = records.indices.filter { records[$0].categoryID == 3 }
        #expect(rare.allSatisfy { i in epoch.filter { $0 == i }.count == 2 })
        let negatives = records.indices.filter { !records[$0].isPositive }
        #expect(negatives.allSatisfy { i in epoch.filter { $0 == i }.count == 1 })
    }
}
