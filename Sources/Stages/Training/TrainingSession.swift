import Detector
import Foundation
import Logging
import Store

/// One training run: data, frozen features, the loop, checkpoints, evaluation and the saved model.
public final class TrainingSession: @unchecked Sendable {
    let c: TrainingConfig
    /// The backbone and text encoder (and for MDETR the whole network).
    let config: MDETRConfig
    /// DetCLIPv2's network when `model.family = "detclip"`.
    let detclip: DetCLIPConfig?
    let quiet: Bool
    /// What the run says (resuming, its size, progress without a terminal); the daemon's fine-tuning passes its own.
    public var logger = Logger(label: "pipelined.train")
    let backboneFile: String, textDirectory: String
    let backboneWeights: any WeightSource, textWeights: any WeightSource
    let tokenizer: WordPieceTokenizer
    let backbone: any Backbone
    /// Labels given in memory (the daemon's fine-tuning builds them from the database) instead of the config's
    /// `data.train` / `data.val` files.
    public var datasets: (train: LVISDataset, validation: LVISDataset?)?
    /// The records (set by `loadData`).
    var data: TrainingData?
    var images: [(id: Int, file: String, width: Int, height: Int)] { data?.images ?? [] }
    var records: [TrainingRecord] { data?.records ?? [] }
    var captionRecords: [TrainingRecord] { data?.captionRecords ?? [] }
    var recordFactors: [Double] { data?.recordFactors ?? [] }
    /// Asked after every step, feature image and evaluation image; true ends the run with `TrainingSession.Stopped`
    /// (a daemon shutting down) — during training at a fresh checkpoint — so a rerun resumes where it stopped. Without
    /// the checks in precomputing and evaluation a shutdown would wait minutes for them, past systemd's stop timeout.
    public var shouldStop: @Sendable () -> Bool = { false }
    /// Told after every checkpoint: (steps done, steps in all).
    public var onCheckpoint: @Sendable (Int, Int) -> Void = { _, _ in }
    public struct Stopped: Error {}
    /// Threads computing the frozen features before the first step (nil: one per core). The daemon's fine-tuning
    /// uses 1, its own low-priority thread.
    public var featureWorkers: Int?

    public init(_ c: TrainingConfig, quiet: Bool) throws {
        self.c = c
        self.quiet = quiet
        guard c.backbone == "efficientnet_lite0", c.textEncoder == "minilm-l6" else {
            throw TrainingError("training supports backbone efficientnet_lite0 with text_encoder minilm-l6 (the default model)")
        }
        var config = MDETRConfig(backbone: c.backbone, textEncoderType: "sentence-transformers/all-MiniLM-L6-v2", text: .miniLML6)
        (config.hidden, config.heads, config.encoderLayers, config.decoderLayers) = (c.hidden, c.heads, c.encoderLayers, c.decoderLayers)
        (config.feedForward, config.queries, config.contrastiveDim) = (c.feedForward, c.queries, c.contrastiveDim)
        self.config = config
        backboneFile = try ModelPackage.expand(c.backboneWeights)
        textDirectory = try ModelPackage.expand(c.textWeights)
        backboneWeights = try ModelPackage.weightFile(backboneFile)
        textWeights = try SafeTensors(path: textDirectory + "/model.safetensors")
        tokenizer = try WordPieceTokenizer(vocabFile: textDirectory + "/vocab.txt")
        backbone = EfficientNetLite(weights: WeightLoader(source: backboneWeights).root)
        if c.family == "detclip" {
            var d = DetCLIPConfig(backbone: c.backbone, textEncoderType: config.textEncoderType, text: config.text,
                                  backboneChannels: backbone.pyramidChannels)
            (d.channels, d.levels, d.stackedConvs, d.alignDim) = (c.channels, c.levels, c.stackedConvs, c.alignDim)
            detclip = d
        } else {
            detclip = nil
        }
    }

    // MARK: - Data

    /// Reads the training data (`TrainingData`): `datasets.train` when given, else the `data.train` file.
    func loadData() throws {
        data = try TrainingData(c, dataset: try datasets?.train ?? LVISDataset(path: c.train), tokenizer: tokenizer,
                                maxTokens: config.maxTokens)
    }

    /// The validation labels: `datasets.validation` when given, else the `data.val` file, if any.
    func validationDataset() throws -> LVISDataset? {
        if let given = datasets { return given.validation }
        return try c.val.map { try LVISDataset(path: $0) }
    }

    /// Weights this run owns merged with the pretrained backbone and text encoder, under the official keys.
    func withPretrained(_ own: any WeightSource) throws -> MergedWeights {
        detclip == nil
            ? try MergedWeights([("", own), ("backbone.0.body.", backboneWeights), ("transformer.text_encoder.", textWeights)])
            : try MergedWeights([("", own), ("backbone.", backboneWeights), ("text_encoder.", textWeights)])
    }

    // MARK: - The run

    public func run() throws -> ModelPackage.Manifest {
        try loadData()
        guard !records.isEmpty else { throw TrainingError("\(c.train) yields no training records") }
        let checkpoints = c.checkpointDirectory ?? c.output + ".checkpoint"
        try FileManager.default.createDirectory(atPath: checkpoints, withIntermediateDirectories: true)
        let features = FeatureCache(c, images: images, backbone: backbone, pyramid: detclip != nil)
        try features.precompute(records: records, captionRecords: captionRecords, workers: featureWorkers ?? BLASThreads.workers,
                                progress: !quiet, shouldStop: shouldStop)
        // Start: the checkpoint if one exists, else the init model, else fresh weights; pretrained parts merged in.
        let own: any WeightSource
        let checkpoint = TrainingCheckpoint(directory: checkpoints)
        var state = TrainingCheckpoint.State()
        if let saved = try checkpoint.load() {
            (own, state) = saved
            logger.notice("resuming from \(checkpoints): epoch \(state.epoch), step \(state.step)")
        } else if let initFrom = c.initFrom {
            own = try SafeTensors(path: initFrom + "/model.safetensors")
        } else if let detclip {
            own = InMemoryWeights(TrainableDetCLIP.freshWeights(config: detclip, seed: UInt64(c.seed)))
        } else {
            own = InMemoryWeights(TrainableMDETR.freshWeights(config: config, backboneChannels: backbone.outChannels, seed: UInt64(c.seed),
                                                              featureScale: features.rms()))
        }
        guard c.lrBackbone <= 0 else { throw TrainingError("lr_backbone > 0: training the backbone is not supported yet (features are cached)") }
        let engine = try makeEngine(own, features: features)
        try checkpoint.restore(engine, step: state.step)
        var sizing = SplitMix64(seed: 0)
        let factors = c.sampling == "repeat_factor" ? recordFactors : nil
        let stepsPerEpoch = Self.batches(records, size: c.batch, rng: &sizing, factors: factors).count
        let totalSteps = c.maxSteps > 0 ? c.maxSteps : stepsPerEpoch * c.epochs
        var schedule = LearningRateSchedule(base: ["main": Float(c.lr), "backbone": Float(c.lrBackbone), "text_encoder": Float(c.lrTextEncoder)],
                                            dropEvery: c.lrDrop, totalSteps: totalSteps)
        schedule.dropAtStep = c.lrDropStep
        // Caption-only batches (larger, lower resolution) are interleaved so they spread over the epoch.
        let captionBatch = c.captionBatch ?? 2 * c.batch
        let captionBatches = captionRecords.count / captionBatch
        let captionEvery = captionBatches > 0 ? max(1, stepsPerEpoch / captionBatches) : 0
        let trainable = engine.network.trainableParameters.reduce(0) { $0 + $1.1.value.count }
        logger.info("\(records.count) records + \(captionRecords.count) caption-only from \(images.count) images, \(stepsPerEpoch) steps per epoch, \(totalSteps) steps; \(trainable) trainable parameters")
        let progress = ProgressBar(total: totalSteps, label: "train", enabled: !quiet)
        progress.advance(by: state.step)
        let started = Date()
        let secondsBefore = state.trainingSeconds
        var evaluationSeconds = 0.0   // curve points' evaluations are not training time
        state.stepAtStart = state.step
        var average: [String: Float] = [:]
        while state.step < totalSteps {
            // Each epoch's order comes from (seed, epoch): a resumed run continues the same sequence.
            var rng = SplitMix64(seed: UInt64(c.seed), stream: 9, index: UInt64(state.epoch))
            // Repeat-factor sampling draws a different number of batches each epoch; every epoch is cut or cycled to
            // `stepsPerEpoch`, so (epoch, step) keeps meaning the same place and a resumed run lands where it stopped.
            let batches = Self.fitted(Self.batches(records, size: c.batch, rng: &rng, factors: factors), to: stepsPerEpoch)
            var captionOrder = Array(captionRecords.indices)
            rng.shuffle(&captionOrder)
            let firstBatch = state.step - state.epoch * stepsPerEpoch
            for b in max(0, firstBatch)..<stepsPerEpoch where state.step < totalSteps {
                let batch = batches[b].map { records[$0] }
                schedule.apply(to: engine.optimizer, step: state.step, epoch: state.epoch)
                let terms = engine.step(batch, step: state.step)
                state.step += 1
                for (k, v) in terms { average[k] = (average[k] ?? v) * 0.95 + v * 0.05 }
                let rate = Double(state.step - (state.stepAtStart ?? 0)) * Double(c.batch) / max(Date().timeIntervalSince(started), 1e-3)
                let line = engine.describe(average) + String(format: ", %.1f rec/s", rate)
                progress.advance(detail: line)
                // Without a terminal (logs, CI) a line every 50 steps instead of the bar.
                if !progress.isVisible && !quiet && state.step % 50 == 0 {
                    logger.info("step \(state.step)/\(totalSteps) epoch \(state.epoch): \(line)")
                }
                if captionEvery > 0 && b % captionEvery == captionEvery - 1 {
                    let k = (b / captionEvery) % captionBatches
                    let chunk = captionOrder[(k * captionBatch)..<((k + 1) * captionBatch)].map { captionRecords[$0] }
                    if let loss = engine.alignmentStep(chunk) {
                        average["loss_word_region"] = (average["loss_word_region"] ?? loss) * 0.9 + loss * 0.1
                    }
                }
                let stop = shouldStop()
                if state.step % c.checkpointEvery == 0 || state.step == totalSteps || stop {
                    // Training time survives resumes: what earlier runs spent plus this run's so far.
                    state.trainingSeconds = secondsBefore + Date().timeIntervalSince(started) - evaluationSeconds
                    try checkpoint.save(engine, state: state)
                    onCheckpoint(state.step, totalSteps)
                    if c.evalEvery > 0, state.step % c.evalEvery == 0, !stop {
                        let evaluating = Date()
                        try recordCurvePoint(engine, state: state, directory: checkpoints)
                        evaluationSeconds += Date().timeIntervalSince(evaluating)
                    }
                }
                if stop { throw Stopped() }
            }
            if state.step % stepsPerEpoch == 0 { state.epoch += 1 }
        }
        progress.finish()
        state.trainingSeconds = secondsBefore + Date().timeIntervalSince(started) - evaluationSeconds
        let finalWeights = engine.trainedTensors(averaged: true)
        var metrics: [String: Double] = [:]
        var packedPrompts: Bool?
        if let val = try validationDataset() {
            metrics = try evaluate(val, weights: finalWeights)
            // A model trained (or descended from one trained) on packed captions is measured on them too: `auto`
            // asks it by shortlist only if the shortlist stays within one AP point of the exact protocol.
            if detclip == nil, c.packedPerImage > 0 || parentAnswersPackedPrompts {
                let shortlist = try evaluate(val, weights: finalWeights, strategy: .shortlist(k: Self.measuredShortlistK, minScore: nil))
                metrics["AP_shortlist\(Self.measuredShortlistK)"] = shortlist["AP"]
                packedPrompts = (metrics["AP"] ?? 0) - (shortlist["AP"] ?? 0) <= 0.01
            }
        }
        metrics["training_seconds"] = state.trainingSeconds
        return try saveModel(finalWeights, metrics: metrics, packedPrompts: packedPrompts)
    }

    /// A point of the run's time-to-AP curve: the averaged weights on the validation images, appended to
    /// `curve.jsonl` in the checkpoint directory with the step and the training time so far (evaluation excluded).
    func recordCurvePoint(_ engine: any TrainingEngine, state: TrainingCheckpoint.State, directory: String) throws {
        guard let val = try validationDataset() else { return }
        let metrics = try evaluate(val, weights: engine.trainedTensors(averaged: true))
        var point: [String: Any] = ["step": state.step, "training_seconds": state.trainingSeconds]
        for key in ["AP", "AP50", "APr", "APc", "APf", "APs", "APm", "APl"] { point[key] = metrics[key] }
        var line = try JSONSerialization.data(withJSONObject: point, options: [.sortedKeys])
        line.append(0x0A)
        let path = directory + "/curve.jsonl"
        if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: line)
        logger.info("step \(state.step): validation AP \(String(format: "%.4f", metrics["AP"] ?? 0)) after \(Int(state.trainingSeconds)) s of training")
    }

    /// The family's engine on the run's starting weights.
    func makeEngine(_ own: any WeightSource, features: FeatureCache) throws -> any TrainingEngine {
        if let detclip {
            let model = try TrainableDetCLIP(config: detclip, weights: own)
            let trainer = DetCLIPTrainer(model: model, learningRate: Float(c.lr), emaDecay: c.ema ? Float(c.emaDecay) : nil)
            trainer.clipNorm = Float(c.clip)
            let loader = WeightLoader(source: textWeights)
            let text = ConceptEncoder(encoder: TextEncoder(config: config.text, weights: Parameters(loader.root)), tokenizer: tokenizer)
            return DetCLIPEngine(trainer: trainer, features: features, concepts: text, vocabulary: data?.concepts ?? [], config: c)
        }
        let trainText = c.lrTextEncoder > 0
        let model = try TrainableMDETR(config: config, weights: try withPretrained(own)) { key in
            if key.hasPrefix("backbone.") { return false }
            if key.hasPrefix("transformer.text_encoder.") { return trainText && !key.contains("pooler") }
            return true
        }
        model.dropout = Float(c.dropout)
        let trainer = Trainer(model: model, tokenizer: tokenizer, features: { features.features($0)[0] },
                              learningRates: (Float(c.lr), Float(c.lrBackbone), Float(c.lrTextEncoder)),
                              emaDecay: c.ema ? Float(c.emaDecay) : nil)
        trainer.clipNorm = Float(c.clip)
        trainer.criterion.weightEncoderAlign = Float(c.encoderAlignment)
        model.projectsImageTokens = c.encoderAlignment > 0
        return MDETREngine(trainer: trainer, features: features)
    }

    /// One epoch's batches: each kind of record shuffled and cut into batches of its own, then the batches shuffled
    /// together, so a batch never mixes LVIS records with grounding captions.
    static func batches(_ records: [TrainingRecord], size: Int, rng: inout SplitMix64, factors: [Double]? = nil) -> [[Int]] {
        var out: [[Int]] = []
        // Repeat-factor sampling draws this epoch's copies of each record first.
        let epoch = factors.map { FewShot.repeatedEpoch(factors: $0, rng: &rng) } ?? Array(records.indices)
        for kind in [TrainingRecord.Kind.detection, .grounding] {
            var indices = epoch.filter { records[$0].kind == kind }
            rng.shuffle(&indices)
            out += stride(from: 0, to: indices.count, by: size).map { Array(indices[$0..<min(indices.count, $0 + size)]) }
        }
        rng.shuffle(&out)
        return out
    }

    /// `batches` cut to `count`, or cycled from its start until it has `count`.
    static func fitted(_ batches: [[Int]], to count: Int) -> [[Int]] {
        guard !batches.isEmpty else { return [] }
        return (0..<count).map { batches[$0 % batches.count] }
    }

    /// LVIS metrics of the starting model (`model.init`) on the validation file, for comparing a fine-tuned
    /// candidate with its parent on the same images.
    public func evaluateInitialModel() throws -> [String: Double] {
        guard let initFrom = c.initFrom, let val = try validationDataset() else { throw TrainingError("no model.init or data.val to evaluate") }
        let own = try SafeTensors(path: initFrom + "/model.safetensors")
        return try evaluate(val, weights: try own.keys.sorted().map { ($0, try own.tensor($0)) })
    }

    /// The shortlist length a packed-trained model is measured at (the daemon's default `shortlist_k`).
    static let measuredShortlistK = 25

    /// Whether `model.init` answers packed captions (its manifest's measured `packedPrompts`).
    var parentAnswersPackedPrompts: Bool {
        c.initFrom.flatMap { try? ModelPackage.manifest(directory: $0) }?.packedPrompts ?? false
    }

    /// LVIS metrics of the trained weights on the first `val_images` images of the validation file, the vocabulary
    /// asked by `strategy`.
    func evaluate(_ dataset: LVISDataset, weights: [(String, Tensor)], strategy: QueryStrategy = .exact) throws -> [String: Double] {
        let detector = try inferenceDetector(weights)
        // Each family as it was trained to read a category (DetCLIPv2: "name: definition").
        let template = detector.preferredTemplate
        let vocabulary = dataset.categories.map { CategoryPrompt(categoryID: $0.id, prompt: template.prompt(name: $0.name, definition: $0.def)) }
        let selected = Array(dataset.images.prefix(c.valImages))
        var results: [LVISEvaluator.Result] = []
        let progress = ProgressBar(total: selected.count, label: "eval", enabled: !quiet)
        for image in selected {
            if shouldStop() { throw Stopped() }
            guard let name = dataset.fileNames[image.id] else { continue }
            let pixels = try ImageDecoder().decode(file: URL(fileURLWithPath: c.images).appendingPathComponent(name).path)
            for d in try detector.detect(pixels, vocabulary: VocabularyQuery(categories: vocabulary, strategy: strategy), progress: nil).detections {
                results.append(LVISEvaluator.Result(imageID: image.id, detection: d))
            }
            progress.advance()
        }
        progress.finish()
        let report = dataset.restricted(to: Set(selected.map(\.id))).evaluator.report(results)
        var metrics = Dictionary(uniqueKeysWithValues: report.metrics)
        if let point = report.operatingPoint {
            (metrics["F1"], metrics["F1_threshold"], metrics["F1_objects"]) = (point.f1, point.threshold, Double(point.objects))
        }
        return metrics
    }

    func inferenceDetector(_ weights: [(String, Tensor)]) throws -> any ImageDetector {
        let merged = try withPretrained(InMemoryWeights(weights))
        if let detclip {
            let detector = DetCLIPDetector(model: try DetCLIPModel(config: detclip, weights: merged, tokenizer: tokenizer),
                                           identity: ModelIdentity(name: c.name, version: "candidate", weightsSHA256: ""),
                                           normalization: .symmetric)
            detector.resize = (c.imageSize, c.imageMax)
            return detector
        }
        let detector = try MDETRDetector(model: try MDETRModel(config: config, weights: merged), tokenizer: tokenizer,
                                         identity: ModelIdentity(name: c.name, version: "candidate", weightsSHA256: ""),
                                         normalization: .symmetric)
        detector.resize = (c.imageSize, c.imageMax)
        return detector
    }

    func saveModel(_ weights: [(String, Tensor)], metrics: [String: Double], packedPrompts: Bool?) throws -> ModelPackage.Manifest {
        try FileManager.default.createDirectory(atPath: c.output, withIntermediateDirectories: true)
        let path = c.output + "/model.safetensors"
        try SafeTensors.write(weights, metadata: ["format": "pt", "trained_by": "pipelined train"], to: path)
        let vocab = c.output + "/vocab.txt"
        try? FileManager.default.removeItem(atPath: vocab)
        try FileManager.default.copyItem(atPath: textDirectory + "/vocab.txt", toPath: vocab)
        let hash = try ModelPackage.sha256(file: path)
        var manifest = ModelPackage.Manifest(
            name: c.name, version: String(hash.prefix(12)), config: config, normalization: .symmetric, tokenizerFiles: ["vocab.txt"],
            weightsSHA256: hash, source: "pipelined train --config \(URL(fileURLWithPath: trainingConfig).lastPathComponent)",
            sourceSHA256: try ModelPackage.sha256(file: trainingConfig), sourceStateDict: c.ema ? "ema" : "model",
            parts: [.init(prefix: detclip == nil ? "backbone.0.body." : "backbone.", file: c.backboneWeights,
                          sha256: try ModelPackage.sha256(file: backboneFile)),
                    .init(prefix: detclip == nil ? "transformer.text_encoder." : "text_encoder.", file: c.textWeights + "/model.safetensors",
                          sha256: try ModelPackage.sha256(file: textDirectory + "/model.safetensors"))],
            resize: [c.imageSize, c.imageMax], metrics: metrics)
        manifest.packedPrompts = packedPrompts
        manifest.detclip = detclip
        manifest.scoreThreshold = scoreThreshold(metrics)
        try ModelPackage.write(manifest, directory: c.output)
        return manifest
    }

    /// The score threshold the new model keeps: the F1-best on its validation images, unless they held too few labelled
    /// objects to tell (a fine-tuning run's held-out labels) — then its parent's, so a promotion does not swing what
    /// the daemon stores on a guess.
    func scoreThreshold(_ metrics: [String: Double]) -> Double? {
        let parent = c.initFrom.flatMap { try? ModelPackage.manifest(directory: $0) }?.scoreThreshold
        guard let measured = metrics["F1_threshold"], (metrics["F1_objects"] ?? 0) >= Self.objectsForAThreshold || parent == nil else {
            return parent
        }
        return measured
    }

    static let objectsForAThreshold = 50.0

    var trainingConfig: String { c.configPath }
}

/// Why a training run cannot start or go on.
public struct TrainingError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
