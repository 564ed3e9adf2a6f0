import Detector
import Foundation

/// A run's checkpoint directory: the weights this run trains, their EMA, AdamW's moments and where the run stands.
/// Written file by file then renamed, so an interrupted save leaves the previous checkpoint whole; a rerun resumes
/// from it at the same (epoch, step).
struct TrainingCheckpoint {
    struct State: Codable {
        var epoch = 0, step = 0
        var trainingSeconds = 0.0
        var stepAtStart: Int?
    }

    let directory: String

    /// The saved weights and state, if a checkpoint exists.
    func load() throws -> (weights: any WeightSource, state: State)? {
        guard FileManager.default.fileExists(atPath: directory + "/state.json") else { return nil }
        let weights = try SafeTensors(path: directory + "/weights.safetensors")
        let state = try JSONDecoder().decode(State.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/state.json")))
        return (weights, state)
    }

    /// The EMA and the optimizer's moments, where saved.
    func restore(_ engine: any TrainingEngine, step: Int) throws {
        if let ema = engine.ema, FileManager.default.fileExists(atPath: directory + "/ema.safetensors") {
            let saved = try SafeTensors(path: directory + "/ema.safetensors")
            for key in saved.keys { ema.restore(key, try saved.tensor(key)) }
        }
        if FileManager.default.fileExists(atPath: directory + "/moments.safetensors") {
            try engine.optimizer.restoreMoments(SafeTensors(path: directory + "/moments.safetensors"), step: step,
                                                parameters: engine.network.trainableParameters)
        }
    }

    func save(_ engine: any TrainingEngine, state: State) throws {
        let dir = directory
        try SafeTensors.write(engine.trainedTensors(averaged: false), metadata: ["format": "pt"], to: dir + "/weights.safetensors.tmp")
        if engine.ema != nil {
            try SafeTensors.write(engine.trainedTensors(averaged: true), metadata: ["format": "pt"], to: dir + "/ema.safetensors.tmp")
        }
        try SafeTensors.write(engine.optimizer.momentTensors(engine.network.trainableParameters), metadata: ["format": "pt"],
                              to: dir + "/moments.safetensors.tmp")
        try JSONEncoder().encode(state).write(to: URL(fileURLWithPath: dir + "/state.json.tmp"))
        for f in ["weights.safetensors", "ema.safetensors", "moments.safetensors", "state.json"]
        where FileManager.default.fileExists(atPath: dir + "/" + f + ".tmp") {
            _ = rename(dir + "/" + f + ".tmp", dir + "/" + f)
        }
    }
}
