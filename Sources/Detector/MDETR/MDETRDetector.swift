import Foundation

/// The library's detection API over an MDETR network: pixels and prompts in, typed detections out.
/// Not re-entrant (one caller at a time); the backbone runs once per image whatever the number of prompts.
public final class MDETRDetector: ImageDetector, @unchecked Sendable {
    public let identity: ModelIdentity
    public let model: MDETRModel
    public let tokenizer: any Tokenizer
    public let normalization: ImageNormalization
    /// The official evaluation resize (shorter side 800, longer ≤ 1333); nil feeds the image at its own size.
    public var resize: (size: Int, maxSize: Int?)? = (800, 1333)
    /// The demo recipe's threshold on 1 − P(no-object).
    public var threshold: Float = 0.7
    /// Prompts per transformer pass in vocabulary querying (a pass runs its prompts side by side on the cores).
    public var promptsPerPass = 32
    /// The model was measured to answer packed captions (its manifest's `packedPrompts`).
    public var answersPackedPrompts = false

    public init(model: MDETRModel, tokenizer: any Tokenizer, identity: ModelIdentity,
                normalization: ImageNormalization) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.identity = identity
        self.normalization = normalization
        // A tokenizer whose ids fall outside the encoder's vocabulary belongs to another model.
        let probe = tokenizer.encode("a photo of a cat")
        if let bad = probe.ids.first(where: { $0 >= model.config.text.vocabSize }) {
            throw DetectorError.tokenizerMismatch(detail: "token id \(bad) ≥ the encoder's vocabulary of \(model.config.text.vocabSize)")
        }
    }

    /// One image prepared for any number of prompts.
    public struct PreparedImage: Sendable {
        public let features: ImageFeatures
        public let width: Int, height: Int
    }

    public func prepare(_ image: RGBImage) throws -> PreparedImage {
        guard image.width > 0, image.height > 0 else { throw DetectorError.emptyImage(width: image.width, height: image.height) }
        var input = image
        if let resize {
            let (w, h) = Preprocessing.evalSize(width: image.width, height: image.height, size: resize.size, maxSize: resize.maxSize)
            input = PillowResize.bilinear(image, width: w, height: h)
        }
        return PreparedImage(features: model.encodeImage(Preprocessing.tensor(input, normalization: normalization)),
                             width: image.width, height: image.height)
    }

    /// Encoded prompts, reused across images (a daemon asks every image the same questions). Bounded: cleared
    /// when it grows past `textCacheLimit` entries.
    private var textCache: [String: (Encoding, TextFeatures)] = [:]
    public var textCacheLimit = 4096
    /// Encoded vocabularies by their text key (`encode(_: VocabularyQuery)`).
    var encodedVocabularies: [String: EncodedVocabulary] = [:]

    /// Tokenizes and encodes a prompt (or returns the cached encoding), refusing empty and over-long ones.
    public func check(prompt: String) throws { _ = try encode(prompt) }

    public func encode(_ prompt: String) throws -> (Encoding, TextFeatures) {
        if let cached = textCache[prompt] { return cached }
        let encoding = try checkedEncoding(prompt)
        let result = (encoding, model.encodeText(encoding.ids))
        if textCache.count >= textCacheLimit { textCache.removeAll(keepingCapacity: true) }
        textCache[prompt] = result
        return result
    }

    /// The prompt's tokens, refusing an empty prompt and one longer than the model reads.
    func checkedEncoding(_ prompt: String) throws -> Encoding {
        guard !prompt.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw DetectorError.emptyPrompt }
        let encoding = tokenizer.encode(prompt)
        guard encoding.ids.count <= model.maxTokens else {
            throw DetectorError.promptTooLong(tokens: encoding.ids.count, limit: model.maxTokens)
        }
        return encoding
    }

    /// Raw outputs for one prompt on a prepared image.
    public func run(_ image: PreparedImage, text: TextFeatures) -> MDETROutputs {
        model.forward(image: image.features, text: text)
    }

    /// The demo recipe: queries with 1 − P(no-object) above `threshold`, each labelled with the caption words it
    /// puts probability > 0.1 on, boxes in the original image's pixels, best first.
    public func detect(_ image: RGBImage, prompts: [String]) throws -> [Detection] {
        let prepared = try prepare(image)
        let encoded = try prompts.map { try encode($0) }
        let results = model.forward(image: prepared.features, texts: encoded.map(\.1))
        var out: [Detection] = []
        for ((prompt, (encoding, _)), outputs) in zip(zip(prompts, encoded), results) {
            let probabilities = PostProcess.probabilities(outputs.logits)
            let scores = PostProcess.scores(probabilities)
            let boxes = PostProcess.boxes(outputs.boxes, width: prepared.width, height: prepared.height)
            for q in scores.indices where scores[q] > threshold {
                let label = PostProcess.groundedText(probabilities, query: q, encoding: encoding)
                out.append(Detection(box: boxes[q], score: scores[q], label: label.isEmpty ? prompt : label, prompt: prompt))
            }
        }
        return out.sorted { $0.score > $1.score }
    }

    /// Grounding: one caption whose phrases are given as character spans (code points, end exclusive). Boxes whose
    /// 1 − P(no-object) exceeds `threshold`, each named after the phrase its query scores highest (the official
    /// positive-map recipe: a phrase scores the largest probability on any of its tokens), best first.
    public func detect(_ image: RGBImage, caption: String, phrases: [Range<Int>]) throws -> [Detection] {
        let scored = try phraseScores(try prepare(image), caption: caption, phrases: phrases)
        return scored.map { Detection(box: $0.box, score: $0.score, label: $0.phrase, prompt: caption) }
    }

    /// A box of a grounded caption with every phrase's score.
    public struct PhraseScoredBox: Sendable {
        public var box: Box
        public var score: Float
        public var phrase: String            // the best-scoring phrase's text
        public var phraseScores: [Float]     // per phrase, in the order given
    }

    public func phraseScores(_ prepared: PreparedImage, caption: String, phrases: [Range<Int>]) throws -> [PhraseScoredBox] {
        let length = caption.unicodeScalars.count
        for span in phrases where span.isEmpty || span.lowerBound < 0 || span.upperBound > length {
            throw DetectorError.badPhraseSpan(span: span, captionLength: length)
        }
        let (encoding, text) = try encode(caption)
        let outputs = run(prepared, text: text)
        let probabilities = PostProcess.probabilities(outputs.logits)
        let scores = PostProcess.scores(probabilities)
        let boxes = PostProcess.boxes(outputs.boxes, width: prepared.width, height: prepared.height)
        let perPhrase = PostProcess.phraseScores(probabilities, positiveMap: PositiveMap.build(encoding, phrases: phrases.map { [$0] }))
        var out: [PhraseScoredBox] = []
        for q in scores.indices where scores[q] > threshold {
            let values = (0..<phrases.count).map { perPhrase[q, $0] }
            let best = values.indices.max { values[$0] < values[$1] } ?? 0
            out.append(PhraseScoredBox(box: boxes[q], score: scores[q],
                                       phrase: phrases.isEmpty ? caption : encoding.substring(phrases[best]), phraseScores: values))
        }
        return out.sorted { $0.score > $1.score }
    }
}
