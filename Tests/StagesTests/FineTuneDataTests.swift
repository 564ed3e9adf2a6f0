import Detector
import Foundation
@testable import Stages
@testable import Store
import TestSupport
import Testing

/// Fine-tuning reads its labels from the database as typed rows into the one LVIS type, in memory; the LVIS file it
/// writes beside its checkpoint is the audit trail and reads back as the same dataset.
@Suite struct FineTuneDataTests {
    @Test func labelsFromTheDatabaseBecomeTheLVISTypeAndTheirAuditFileReadsBackTheSame() throws {
        let export = LabelExport(
            images: [.init(id: 7, archivePath: "ab/cd.png", width: 40, height: 30, negativeCategoryIDs: [3, 1], notExhaustiveCategoryIDs: [2]),
                     .init(id: 9, archivePath: "ef/gh.jpg", width: 64, height: 48, negativeCategoryIDs: [], notExhaustiveCategoryIDs: [])],
            annotations: [.init(id: 1, imageID: 7, categoryID: 2, box: (1, 2, 10, 5)),
                          .init(id: 2, imageID: 9, categoryID: 3, box: (0, 0, 4, 4))],
            categories: [.init(id: 1, name: "red star", frequency: "r", imageCount: 0),
                         .init(id: 2, name: "blue ring", frequency: "r", imageCount: 1),
                         .init(id: 3, name: "green cube", frequency: "r", imageCount: 1)])
        let dataset = LVISDataset(export)
        #expect(dataset.fileNames == [7: "ab/cd.png", 9: "ef/gh.jpg"])
        #expect(dataset.sizes[7]?.width == 40 && dataset.sizes[9]?.height == 48)
        #expect(dataset.listedNegatives[7] == [3, 1])
        #expect(dataset.annotations.map(\.area) == [50, 16])

        let dir = TemporaryDirectory("ftd")
        let path = dir.file("train.json")
        try dataset.jsonData().write(to: URL(fileURLWithPath: path))
        let back = try LVISDataset(path: path)
        #expect(back.images.map(\.id) == [7, 9] && back.fileNames == dataset.fileNames)
        #expect(back.sizes[7]?.width == 40 && back.sizes[7]?.height == 30)
        #expect(back.listedNegatives == dataset.listedNegatives)
        #expect(back.images[0].notExhaustiveCategories == [2])
        #expect(back.annotations.map(\.categoryID) == [2, 3] && back.annotations[0].bbox.w == 10)
        #expect(back.categories.map(\.name) == ["red star", "blue ring", "green cube"] && back.categories[1].image_count == 1)
    }
}
