import Foundation
import Testing
@testable import Detector

@Suite struct CheckpointTests {
    @Test func torchZipCheckpointGivesTheEMAWeightsAndTheArgs() throws {
        let checkpoint = try TorchCheckpoint(path: Fixtures.path("mdetr_resnet_roberta/checkpoint.pth"))
        let state = try checkpoint.stateDict()
        #expect(state.source == "model_ema")
        let reference = try SafeTensors(path: Fixtures.path("mdetr_resnet_roberta/weights.safetensors"))
        #expect(Set(state.keys) == Set(reference.keys))
        for key in reference.keys {
            // class_embed.weight is stored transposed-and-back (non-contiguous strides) on purpose.
            let a = try state.tensor(key), b = try reference.tensor(key)
            #expect(a == b, "\(key) differs")
        }
        let raw = try checkpoint.stateDict(preferEMA: false)
        #expect(raw.source == "model")
        #expect(try raw.tensor("query_embed.weight") != reference.tensor("query_embed.weight"))

        let args = try #require(checkpoint.args)
        #expect(args["backbone"]?.string == "resnet50")
        #expect(args["lr"]?.double == 1e-4)
        let fixture = try Fixtures.config("mdetr_resnet_roberta")
        // "tiny-roberta" is not a known encoder: its hyper-parameters must be supplied.
        #expect(throws: WeightsError.self) { _ = try MDETRConfig(args: args) }
        let config = try MDETRConfig(args: args, textConfig: fixture.text)
        #expect(config == fixture)
    }

    @Test func maliciousPicklesAreRefusedAndNothingRuns() throws {
        let marker = "/tmp/pipelined-pwned"
        unlink(marker)
        for file in ["malicious/evil.pth"] {
            #expect {
                _ = try TorchCheckpoint(path: Fixtures.path(file))
            } throws: { error in
                guard case let WeightsError.forbiddenGlobal(module, name) = error else { return false }
                return (module == "posix" || module == "os") && name == "system"
            }
        }
        for file in ["malicious/evil.pkl", "malicious/eval.pkl"] {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(file))))
            var unpickler = RestrictedUnpickler(bytes) { _ in .none }
            #expect(throws: WeightsError.self) { _ = try unpickler.load() }
        }
        #expect(!FileManager.default.fileExists(atPath: marker), "a pickle executed code")
    }

    @Test func truncatedAndForeignFilesGiveClearErrors() throws {
        #expect {
            _ = try TorchCheckpoint(path: Fixtures.path("malicious/truncated.pth"))
        } throws: { error in
            guard let error = error as? WeightsError else { return false }
            switch error {
            case .truncated, .notACheckpoint: return true
            default: return false
            }
        }
        #expect {
            _ = try TorchCheckpoint(path: Fixtures.path("mdetr_resnet_roberta/config.json"))
        } throws: { ($0 as? WeightsError).map { if case .notACheckpoint = $0 { return true } else { return false } } ?? false }
        #expect(throws: WeightsError.self) { _ = try SafeTensors(path: Fixtures.path("mdetr_resnet_roberta/config.json")) }
    }

    /// A download damaged in flight is told by the CRC-32 each zip entry records (there is no published hash for
    /// MDETR's checkpoints); every good fixture passes.
    @Test func aFlippedBitFailsTheArchivesCRC() throws {
        #expect("123456789".utf8.withContiguousStorageIfAvailable { CRC32.checksum(UnsafeRawBufferPointer($0)) } == 0xCBF4_3926)
        let path = Fixtures.path("mdetr_resnet_roberta/checkpoint.pth")
        try TorchCheckpoint.verifyIntegrity(path: path)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[bytes.count / 2] ^= 0x01
        let damaged = FileManager.default.temporaryDirectory.appendingPathComponent("crc-\(getpid()).pth")
        try bytes.write(to: damaged)
        defer { try? FileManager.default.removeItem(at: damaged) }
        _ = try TorchCheckpoint(path: damaged.path)   // the damage is invisible to a plain load
        #expect {
            try TorchCheckpoint.verifyIntegrity(path: damaged.path)
        } throws: { "\($0)".contains("CRC-32") }
    }

    @Test func missingUnexpectedAndMisshapenKeysAreReportedTogether() throws {
        let name = "mdetr_resnet_roberta"
        var config = try Fixtures.config(name)
        config.queries = 12           // query_embed is (10, 32) in the file
        config.contrastiveAlign = false  // the projections become unexpected keys
        let weights = try SafeTensors(path: Fixtures.path("\(name)/weights.safetensors"))
        #expect {
            _ = try MDETRModel(config: config, weights: weights)
        } throws: { error in
            guard case let WeightsError.keyMismatch(_, unexpected, misshapen) = error else { return false }
            return unexpected.contains("contrastive_align_projection_image.weight")
                && misshapen.contains { $0.hasPrefix("query_embed.weight") }
        }
    }
}
