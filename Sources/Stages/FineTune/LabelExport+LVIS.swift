import Detector
import Store

extension LVISDataset {
    /// A split of the database's labels as the one LVIS type training and evaluation read (file names are archive
    /// paths; negatives as the labels list them).
    init(_ export: LabelExport) {
        var category = [Category]()
        for c in export.categories {
            var entry = Category(id: c.id, name: c.name, frequency: c.frequency)
            entry.image_count = c.imageCount
            entry.def = c.definition
            category.append(entry)
        }
        self.init(
            images: export.images.map {
                LVISEvaluator.Image(id: $0.id, negativeCategories: Set($0.negativeCategoryIDs),
                                    notExhaustiveCategories: Set($0.notExhaustiveCategoryIDs))
            },
            categories: category,
            annotations: export.annotations.map {
                LVISEvaluator.Annotation(id: $0.id, imageID: $0.imageID, categoryID: $0.categoryID, bbox: $0.box,
                                         area: $0.box.w * $0.box.h)
            },
            fileNames: Dictionary(uniqueKeysWithValues: export.images.map { ($0.id, $0.archivePath) }),
            sizes: Dictionary(uniqueKeysWithValues: export.images.map { ($0.id, ($0.width, $0.height)) }),
            listedNegatives: Dictionary(uniqueKeysWithValues: export.images.map { ($0.id, $0.negativeCategoryIDs) }))
    }
}
