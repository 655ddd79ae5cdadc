import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The dashboard in a real browser: headless Chromium loads the pages of a finished sweep from a
/// running coordinator, the test checks their elements and saves screenshots. `.ci/run` installs
/// Chromium; elsewhere the test skips, and in CI it fails without it. RECUR_SCREENSHOTS_DIR=docs/screenshots refreshes the
/// committed screenshots.
@Suite(.serialized, .systemTestSlot) struct DashboardBrowserTests {
    static let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    static func browse(_ args: [String], timeout: Double = 90) async throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: chromium!)
        p.arguments = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-dev-shm-usage"] + args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let text = await out.text()
        await p.ended()
        return text
    }

    @Test(.enabled(if: SystemTools.shouldRun(chromium != nil), "needs Chromium (.ci/run installs it)"))
    func pagesRenderInHeadlessChromium() async throws {
        try #require(Self.chromium != nil, "needs Chromium; .ci/run installs it")
        let cluster = try Cluster(rows: 3000)
        defer { cluster.stopAll() }
        try Data(cluster.sweepYAML(name: "it", trials: 8, parallel: 2, epochs: 4, pruning: "median").utf8).write(
            to: cluster.dir.appendingPathComponent("s.yaml")
        )
        let run = try await RecurBinary.run(["run", "s.yaml", "--workers", "2", "--db", "r.db"], directory: cluster.dir)
        try #require(run.status == 0, "\(run.stderr)")
        try await cluster.startCoordinator()
        let base = "http://127.0.0.1:\(cluster.port)"
        /// A one-time sign-in link from `recur login-link`, opening `next`: each browse is a new profile.
        func link(_ next: String) async throws -> String {
            let r = try await RecurBinary.run(["login-link", "--db", "r.db", "--url", base, "--next", next], directory: cluster.dir)
            try #require(r.status == 0, "login-link: \(r.stderr)")
            let url = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!url.contains(try String(contentsOfFile: cluster.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            return url
        }

        let login = try await Self.browse(["--dump-dom", "\(base)/sweeps/it"])
        #expect(login.contains("id=\"token\""), "an unauthenticated page should show the sign-in form")

        let sweepLink = try await link("/sweeps/it")
        let sweep = try await Self.browse(["--dump-dom", sweepLink])
        for element in [
            "id=\"progress\"", "id=\"leaderboard\"", "id=\"learning-curves\"", "id=\"parallel-coordinates\"", "id=\"importance\"", "Sweep it",
        ] {
            #expect(sweep.contains(element), "sweep page lacks \(element)")
        }
        #expect(sweep.components(separatedBy: "<polyline").count > 8)

        // A link works once: opened again, it shows the form.
        let again = try await Self.browse(["--dump-dom", sweepLink])
        #expect(again.contains("id=\"token\"") && again.contains("used or expired") && !again.contains("id=\"leaderboard\""))

        let sorted = try await Self.browse(["--dump-dom", try link("/sweeps/it?sort=test_mae&desc=1")])
        #expect(sorted.contains("test MAE ▼"))

        let trial = try await Self.browse(["--dump-dom", try link("/trials/1")])
        for element in ["id=\"config\"", "id=\"attempts\"", "id=\"epochs\"", "id=\"learning-curves\""] {
            #expect(trial.contains(element), "trial page lacks \(element)")
        }

        let shots = ProcessInfo.processInfo.environment["RECUR_SCREENSHOTS_DIR"].map { URL(fileURLWithPath: $0) } ?? cluster.dir
        for (name, path) in [("sweep", "/sweeps/it"), ("trial", "/trials/1")] {
            let file = shots.appendingPathComponent("dashboard-\(name).png")
            _ = try await Self.browse(["--window-size=1200,1800", "--screenshot=\(file.path)", try await link(path)])
            let png = try Data(contentsOf: file)
            #expect(png.count > 10_000 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]), "\(name) screenshot")
        }

        // `recur report` writes the same content as one self-contained file.
        let report = try await RecurBinary.run(["report", "it", "-o", "report.html", "--db", "r.db"], directory: cluster.dir)
        #expect(report.status == 0, "\(report.stderr)")
        let html = try String(contentsOf: cluster.dir.appendingPathComponent("report.html"), encoding: .utf8)
        #expect(html.contains("id=\"parallel-coordinates\"") && !html.contains("http://") && !html.contains("<script"))
        let rendered = try await Self.browse(["--dump-dom", cluster.dir.appendingPathComponent("report.html").absoluteString])
        #expect(rendered.contains("id=\"leaderboard\""))
    }

    /// A running sweep's page updates itself, with no reload: Chromium loads it before any trial
    /// has trained (no worker yet), the worker starts only once the page has polled, and the DOM
    /// Chromium ends with shows the sweep done — which only the page's own polling can have
    /// fetched. Virtual time lets the 3 s polls run back to back while network fetches wait.
    @Test(.enabled(if: SystemTools.shouldRun(chromium != nil), "needs Chromium (.ci/run installs it)"))
    func aRunningSweepsPageUpdatesItself() async throws {
        try #require(Self.chromium != nil, "needs Chromium; .ci/run installs it")
        let cluster = try Cluster(rows: 2000)
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try await cluster.createSweep(cluster.sweepYAML(name: "it", trials: 3, parallel: 1, epochs: 2))
        let base = "http://127.0.0.1:\(cluster.port)"
        let r = try await RecurBinary.run(["login-link", "--db", "r.db", "--url", base, "--next", "/sweeps/it"], directory: cluster.dir)
        try #require(r.status == 0, "login-link: \(r.stderr)")
        let token = try String(contentsOfFile: cluster.tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        /// Sweep pages served so far (the first load and each poll), from /metrics.
        @Sendable func pagesServed() -> Int {
            let request = Array("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n".utf8)
            let text = String(decoding: RawHTTP.exchange(port: cluster.port, request), as: UTF8.self)
            return text.split(separator: "\n").filter { $0.hasPrefix("recur_http_requests_total{route=\"/sweeps/") }
                .compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
        }

        let browser = Process()
        browser.executableURL = URL(fileURLWithPath: Self.chromium!)
        browser.arguments = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage", "--virtual-time-budget=3600000",
            "--dump-dom", r.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
        ]
        let out = Pipe()
        browser.standardOutput = out
        browser.standardError = FileHandle.nullDevice
        try browser.run()
        defer { if browser.isRunning { browser.terminate() } }
        try await cluster.waitFor("the page to load and poll once", timeout: 60) { pagesServed() >= 2 }
        #expect(try cluster.count("SELECT COUNT(*) FROM trials") == 0, "nothing trained before the page loaded")
        try cluster.startWorker()
        let dom = await out.text()
        await browser.ended()
        #expect(dom.contains("3/3 trials finished") && dom.contains("class=\"state-done\""), "\(dom.prefix(3000))")
        #expect(!dom.contains("data-refresh"), "a done sweep's page stops polling")
        #expect(pagesServed() >= 3)
    }
}
