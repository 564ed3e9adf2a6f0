import Foundation

extension LVISEvaluator {
    /// `LVISEval.evaluate()` + `accumulate()`: the precision (T, R, K, A) and recall (T, K, A) tables.
    struct Accumulated {
        static let areaRanges: [(Double, Double)] = [(0, 1e10), (0, 1024), (1024, 9216), (9216, 1e10)]
        /// numpy.linspace(0.5, 0.95, 10) and linspace(0, 1, 101), computed as numpy does (i·step + start, exact end).
        static let iouThresholds: [Double] = linspace(0.5, 0.95, 10)
        static let recallThresholds: [Double] = linspace(0.0, 1.0, 101)

        static func linspace(_ start: Double, _ stop: Double, _ count: Int) -> [Double] {
            let step: Double = (stop - start) / Double(count - 1)
            var out: [Double] = []
            for i in 0..<count {
                let value: Double = Double(i) * step + start
                out.append(i == count - 1 ? stop : value)
            }
            return out
        }

        struct ImageEvaluation {
            var dtScores: [Double]
            var dtMatches: [[Int]]     // (T, D): matched gt id, 0 = none
            var dtIgnore: [[Bool]]     // (T, D)
            var gtIgnore: [Bool]       // (G)
        }

        let categoryIDs: [Int]
        let frequencies: [String]
        var precision: [[[[Double]]]]  // [t][r][k][a]
        var recall: [[[Double]]]       // [t][k][a]
        /// Every scored detection at IoU 0.5 over all areas (ignored ones left out), and the ground truth it can
        /// match: what `operatingPoint` sweeps.
        var outcomes: [(score: Double, truePositive: Bool)] = []
        var groundTruth = 0

        init(evaluator: LVISEvaluator, results: [Result]) {
            let imageIDs = Array(Set(evaluator.images.map(\.id))).sorted()
            let cats = evaluator.categories.sorted { $0.id < $1.id }
            categoryIDs = cats.map(\.id)
            frequencies = cats.map(\.frequency)
            let catSet = Set(categoryIDs)
            let imageInfo = Dictionary(evaluator.images.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })

            // Ground truth per (image, category), in dataset order; `get_ann_ids` keeps 0 < area < ∞ only.
            var gts: [Int: [Int: [Annotation]]] = [:]
            var positives: [Int: Set<Int>] = [:]
            let imageSet = Set(imageIDs)
            for a in evaluator.annotations where imageSet.contains(a.imageID) && catSet.contains(a.categoryID)
                && a.area > 0 && a.area < .infinity {
                gts[a.imageID, default: [:]][a.categoryID, default: []].append(a)
                positives[a.imageID, default: []].insert(a.categoryID)
            }
            // Results get ids 1… in order; kept only where the image is labelled for the category.
            var dts: [Int: [Int: [(id: Int, r: Result, area: Double)]]] = [:]
            for (i, r) in results.enumerated() {
                let area = r.bbox.w * r.bbox.h
                guard let info = imageInfo[r.imageID], catSet.contains(r.categoryID), area > 0, area < .infinity else { continue }
                guard info.negativeCategories.contains(r.categoryID) || positives[r.imageID]?.contains(r.categoryID) == true else { continue }
                dts[r.imageID, default: [:]][r.categoryID, default: []].append((i + 1, r, area))
            }

            let t = Self.iouThresholds.count, rN = Self.recallThresholds.count, k = categoryIDs.count, aN = Self.areaRanges.count
            precision = Array(repeating: Array(repeating: Array(repeating: Array(repeating: -1, count: aN), count: k), count: rN), count: t)
            recall = Array(repeating: Array(repeating: Array(repeating: -1, count: aN), count: k), count: t)

            for (ki, cat) in categoryIDs.enumerated() {
                for (ai, range) in Self.areaRanges.enumerated() {
                    var evaluations: [ImageEvaluation] = []
                    for img in imageIDs {
                        let g = gts[img]?[cat] ?? [], d = dts[img]?[cat] ?? []
                        if g.isEmpty && d.isEmpty { continue }
                        evaluations.append(Self.evaluateImage(g, d, range: range,
                                                              notExhaustive: imageInfo[img]!.notExhaustiveCategories.contains(cat)))
                    }
                    if evaluations.isEmpty { continue }
                    if ai == 0 { collectOutcomes(evaluations) }
                    accumulate(evaluations, category: ki, area: ai)
                }
            }
        }

        static func evaluateImage(_ gtIn: [Annotation], _ dtIn: [(id: Int, r: Result, area: Double)], range: (Double, Double),
                                  notExhaustive: Bool) -> ImageEvaluation {
            // Detections by descending score (stable), ground truth with ignored ones last (stable).
            let dt = dtIn.enumerated().sorted { a, b in
                a.element.r.score != b.element.r.score ? a.element.r.score > b.element.r.score : a.offset < b.offset
            }.map(\.element)
            let ignoredFlags = gtIn.map { $0.area < range.0 || $0.area > range.1 }
            let gtOrder = gtIn.indices.sorted { a, b in
                ignoredFlags[a] != ignoredFlags[b] ? !ignoredFlags[a] : a < b
            }
            let gt = gtOrder.map { gtIn[$0] }
            let gtIgnore = gtOrder.map { ignoredFlags[$0] }
            let ious = dt.map { d in gt.map { LVISEvaluator.iou(d.r.bbox, $0.bbox) } }

            let tN = iouThresholds.count
            var gtMatched = Array(repeating: Array(repeating: 0, count: gt.count), count: tN)
            var dtMatches = Array(repeating: Array(repeating: 0, count: dt.count), count: tN)
            var dtIgnore = Array(repeating: Array(repeating: false, count: dt.count), count: tN)
            if !gt.isEmpty && !dt.isEmpty {
                for (ti, threshold) in iouThresholds.enumerated() {
                    for di in dt.indices {
                        var best = min(threshold, 1 - 1e-10)
                        var m = -1
                        for gi in gt.indices {
                            if gtMatched[ti][gi] > 0 { continue }
                            if m > -1 && !gtIgnore[m] && gtIgnore[gi] { break }
                            if ious[di][gi] < best { continue }
                            best = ious[di][gi]
                            m = gi
                        }
                        if m == -1 { continue }
                        dtIgnore[ti][di] = gtIgnore[m]
                        dtMatches[ti][di] = gt[m].id
                        gtMatched[ti][m] = dt[di].id
                    }
                }
            }
            // Unmatched detections outside the area range, or of a not-exhaustively labelled category, are ignored.
            for di in dt.indices {
                let outside = dt[di].area < range.0 || dt[di].area > range.1 || notExhaustive
                if outside { for ti in 0..<tN where dtMatches[ti][di] == 0 { dtIgnore[ti][di] = true } }
            }
            return ImageEvaluation(dtScores: dt.map(\.r.score), dtMatches: dtMatches, dtIgnore: dtIgnore, gtIgnore: gtIgnore)
        }

        mutating func collectOutcomes(_ evaluations: [ImageEvaluation]) {
            for e in evaluations {
                groundTruth += e.gtIgnore.filter { !$0 }.count
                for d in e.dtScores.indices where !e.dtIgnore[0][d] {
                    outcomes.append((e.dtScores[d], e.dtMatches[0][d] != 0))
                }
            }
        }

        mutating func accumulate(_ evaluations: [ImageEvaluation], category ki: Int, area ai: Int) {
            let scores = evaluations.flatMap(\.dtScores)
            let order = scores.indices.sorted { a, b in scores[a] != scores[b] ? scores[a] > scores[b] : a < b }
            let numGT = evaluations.reduce(0) { $0 + $1.gtIgnore.filter { !$0 }.count }
            if numGT == 0 { return }
            for ti in 0..<Self.iouThresholds.count {
                let matches = evaluations.flatMap { $0.dtMatches[ti] }
                let ignore = evaluations.flatMap { $0.dtIgnore[ti] }
                var tp: [Double] = [], fp: [Double] = []
                var tpSum = 0.0, fpSum = 0.0
                for i in order {
                    if matches[i] != 0 && !ignore[i] { tpSum += 1 }
                    if matches[i] == 0 && !ignore[i] { fpSum += 1 }
                    tp.append(tpSum)
                    fp.append(fpSum)
                }
                let n = tp.count
                let rc = tp.map { $0 / Double(numGT) }
                recall[ti][ki][ai] = n > 0 ? rc[n - 1] : 0
                var pr = (0..<n).map { tp[$0] / (fp[$0] + tp[$0] + Double.ulpOfOne) }
                if n > 1 {
                    for i in stride(from: n - 1, to: 0, by: -1) where pr[i] > pr[i - 1] { pr[i - 1] = pr[i] }
                }
                for (ri, threshold) in Self.recallThresholds.enumerated() {
                    // searchsorted(rc, threshold, side="left")
                    var lo = 0, hi = n
                    while lo < hi {
                        let mid = (lo + hi) / 2
                        if rc[mid] < threshold { lo = mid + 1 } else { hi = mid }
                    }
                    if lo >= n {
                        for rj in ri..<Self.recallThresholds.count { precision[ti][rj][ki][ai] = 0 }
                        break
                    }
                    precision[ti][ri][ki][ai] = pr[lo]
                }
            }
        }

        private func mean(_ values: [Double]) -> Double {
            let kept = values.filter { $0 > -1 }
            return kept.isEmpty ? -1 : kept.reduce(0, +) / Double(kept.count)
        }

        /// `_summarize('ap', …)`.
        /// A threshold picks the entries equal to it exactly (`np.where(iou_thr == iou_thrs)`), as the official code.
        func summarizeAP(iouThreshold: Double? = nil, area: Int = 0, frequency: String? = nil) -> Double {
            var values: [Double] = []
            let ts = iouThreshold.map { v in Self.iouThresholds.indices.filter { Self.iouThresholds[$0] == v } }
                ?? Array(0..<Self.iouThresholds.count)
            let ks = categoryIDs.indices.filter { frequency == nil || frequencies[$0] == frequency }
            for t in ts { for r in 0..<Self.recallThresholds.count { for k in ks { values.append(precision[t][r][k][area]) } } }
            return mean(values)
        }

        /// Each category's AP over all IoU thresholds and recall points (all areas), −1 where undefined — the
        /// per-class figure LVIS reports (detectron2's `precision[:, :, k, 0]` mean over entries > −1).
        func perCategoryAP() -> [Int: Double] {
            var out: [Int: Double] = [:]
            for (k, id) in categoryIDs.enumerated() {
                var values: [Double] = []
                for t in 0..<Self.iouThresholds.count { for r in 0..<Self.recallThresholds.count { values.append(precision[t][r][k][0]) } }
                out[id] = mean(values)
            }
            return out
        }

        /// `_summarize('ar', …)`.
        func summarizeAR(area: Int = 0) -> Double {
            var values: [Double] = []
            for t in 0..<Self.iouThresholds.count { for k in categoryIDs.indices { values.append(recall[t][k][area]) } }
            return mean(values)
        }
    }
}
