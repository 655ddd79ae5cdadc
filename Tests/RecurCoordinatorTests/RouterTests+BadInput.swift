import Foundation
import Hummingbird
import HummingbirdTesting
import OpenAPIRuntime
import RecurAPI
import Testing
import Yams

@testable import RecurCoordinator

/// The router's answers to bad input: a missing or wrong token, malformed bodies and
/// parameters, invalid sweeps; each a 4xx with a stable code and a line naming the field.
extension RouterTests {
    /// The 400 for a parameter that does not decode names it from `integerParameters`, which
    /// must list every integer parameter of the generated operations, with the spec's bounds.
    @Test func integerParametersMatchTheSpec() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/openapi.yaml"), encoding: .utf8)
        let spec = try #require(try Yams.load(yaml: text) as? [String: Any])
        let components = (spec["components"] as? [String: Any])?["parameters"] as? [String: [String: Any]] ?? [:]
        var documented: Set<String> = []
        for case let (_, methods as [String: Any]) in try #require(spec["paths"] as? [String: Any]) {
            for case let (_, operation as [String: Any]) in methods where (operation["tags"] as? [String]) != ["dashboard"] {
                for case var parameter as [String: Any] in operation["parameters"] as? [Any] ?? [] {
                    if let ref = parameter["$ref"] as? String { parameter = try #require(components[String(ref.split(separator: "/").last!)]) }
                    let schema = parameter["schema"] as? [String: Any] ?? [:]
                    guard schema["type"] as? String == "integer", let name = parameter["name"] as? String else { continue }
                    let lower = schema["minimum"] as? Int ?? Int(Int64.min)
                    let upper = schema["maximum"] as? Int ?? Int(Int64.max)
                    documented.insert("\(name) \(parameter["in"] as? String ?? "?") \(lower)...\(upper)")
                }
            }
        }
        let listed = Set(
            ErrorBodyMiddleware.integerParameters.map { "\($0.name) \($0.inPath ? "path" : "query") \($0.range.lowerBound)...\($0.range.upperBound)" }
        )
        #expect(documented.count >= 2 && listed == documented, "docs/openapi.yaml: \(documented.sorted()); the middleware: \(listed.sorted())")
    }

    @Test func missingOrWrongTokenIs401() async throws {
        let (app, _) = try Self.app()
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/sweeps", method: .get) { r in
                #expect(r.status == .unauthorized && String(buffer: r.body).contains(#""code":"unauthorized""#))
            }
            try await client.execute(uri: "/sweeps/x", method: .get) { r in
                #expect(r.status == .unauthorized && String(buffer: r.body).contains("id=\"token\""), "a page shows the sign-in form")
            }
            try await client.execute(uri: "/v1/sweeps", method: .get, headers: [.authorization: "Bearer wrong"]) {
                #expect($0.status == .unauthorized)
            }
            try await client.execute(uri: "/v1/sweeps", method: .get, headers: Self.auth) { #expect($0.status == .ok) }
        }
    }

    @Test func badBodiesAre400AndOversizeIs413() async throws {
        let (app, _) = try Self.app()
        try await app.test(.router) { client in
            // Each body is a 400 whose answer says what is wrong with it.
            for (body, says) in [
                ("{not json", #""code":"bad_request""#), (#"{"host": "h"}"#, "missing field 'slots'"),
                (#"{"host": "h", "slots": 0, "version": "t"}"#, "slots: 0 must be from 1 to 1024"),
                (#"{"host": "h", "slots": 1.5, "version": "t"}"#, "one of its numbers does not fit its field"),
            ] {
                try await client.execute(uri: "/v1/workers", method: .post, headers: Self.auth, body: ByteBuffer(string: body)) { r in
                    #expect(r.status == .badRequest && String(buffer: r.body).contains(says), "\(body): \(String(buffer: r.body))")
                }
            }
            try await client.execute(
                uri: "/v1/workers",
                method: .post,
                headers: [.authorization: "Bearer secret", .contentType: "text/plain"],
                body: ByteBuffer(string: "x")
            ) { r in
                #expect(r.status == .unsupportedMediaType && String(buffer: r.body).contains(#""code":"unsupported_media_type""#))
            }
            let big = ByteBuffer(repeating: UInt8(ascii: "x"), count: API.maximumBodyBytes + 10)
            try await client.execute(uri: "/v1/sweeps", method: .post, headers: Self.auth, body: big) { r in
                #expect(r.status == .contentTooLarge && String(buffer: r.body).contains(#""code":"body_too_large""#))
            }
            try await client.execute(uri: "/v1/sweeps/nope", method: .get, headers: Self.auth) { r in
                #expect(r.status == .notFound && String(buffer: r.body).contains(#""code":"unknown_sweep""#))
            }
            try await client.execute(uri: "/v1/trials/9223372036854775808", method: .get, headers: Self.auth) { r in
                #expect(r.status == .badRequest && String(buffer: r.body).contains("path parameter 'id' must be a whole number from 1 to"))
            }
            try await client.execute(uri: "/v1/trials/0", method: .get, headers: Self.auth) { #expect($0.status == .badRequest) }
            // The decoder names no parameter; the 400 does, also when another one precedes it.
            for uri in ["/v1/sweeps/x/leaderboard?top=abc", "/v1/sweeps/7/leaderboard?other=1&top=abc", "/v1/sweeps/x/leaderboard?t%6Fp=abc"] {
                try await client.execute(uri: uri, method: .get, headers: Self.auth) { r in
                    let text = String(buffer: r.body)
                    #expect(
                        r.status == .badRequest && text.contains("query parameter 'top' must be a whole number from 1 to 1000000, got 'abc'"),
                        "\(uri): \(text)"
                    )
                }
            }
            try await client.execute(uri: "/v1/sweeps/x/leaderboard?top=%31%0A2", method: .get, headers: Self.auth) { r in
                #expect(r.status == .badRequest && String(buffer: r.body).contains("got '1?2'"), "\(String(buffer: r.body))")
            }
            try await client.execute(uri: "/v1/leases/bogus/heartbeat", method: .post, headers: Self.auth) { r in
                #expect(r.status == .notFound && String(buffer: r.body).contains(#""code":"unknown_lease""#))
            }
        }
    }

    @Test func invalidSweepsAre422WithTheirProblems() async throws {
        let (app, _) = try Self.app()
        try await app.test(.router) { client in
            let yaml = "name: x\ntask: {dataset: d.csv, target: y}\nspace:\n  dropout: {float: [0, 1.5]}\n"
            try await client.execute(uri: "/v1/sweeps", method: .post, headers: Self.auth, body: Self.body(API.SweepDefinition(yaml: yaml))) { r in
                #expect(r.status == .unprocessableContent)
                #expect(String(buffer: r.body).contains(#""code":"invalid_sweep""#))
                #expect(String(buffer: r.body).contains("space.dropout.float[1]: 1.5 must be < 1"))
            }
        }
    }
}
