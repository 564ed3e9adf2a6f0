import Pipeline
import Testing

@Suite struct InboxFilterTests {
    let filter = InboxFilter(ignoredSuffixes: Config().ignoredSuffixes)

    @Test(arguments: ["cat.jpg", "sub/dir/dog.PNG", "no-extension", "a.jpg.bak"])
    func acceptsFinishedFiles(_ path: String) {
        #expect(filter.accepts(relativePath: path))
    }

    @Test(arguments: [".hidden.jpg", "sub/.git/x.jpg", "upload.jpg.part", "photo.JPG.TMP", "f.crdownload",
                      "edit.jpg~", "x.filepart", ".~lock.jpg#"])
    func ignoresHiddenAndPartialFiles(_ path: String) {
        #expect(!filter.accepts(relativePath: path))
    }
}

@Suite struct BackoffTests {
    @Test func growsAsTheFourthPowerOfTheAttemptWithJitter() {
        #expect(Backoff.delay(afterAttempt: 1, jitter: 0) == 1)
        #expect(Backoff.delay(afterAttempt: 2, jitter: 0) == 16)
        #expect(Backoff.delay(afterAttempt: 5, jitter: 0) == 625)
        #expect(Backoff.delay(afterAttempt: 3, jitter: 0.1) == 81 * 1.1)
        let samples = (0..<50).map { _ in Backoff.delay(afterAttempt: 3) }
        #expect(samples.allSatisfy { $0 >= 72.9 && $0 <= 89.1 })
        #expect(Set(samples).count > 1)
    }
}
