import ArgumentParser
import Crypto
import Foundation
import SwiftASN1
import X509

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `recur tls …`: certificates for a private TLS setup.
struct TLS: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tls",
        abstract: "Make certificates for TLS between the coordinator, its workers and the CLI.",
        subcommands: [Init.self]
    )
}

extension TLS {
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a private CA and a server certificate it signs for the coordinator's names and addresses.",
            discussion: """
                Writes ca.pem (the CA certificate, for workers and the CLI), server.pem (the server
                certificate, then the CA's) and server-key.pem (mode 0600). Existing files are never
                overwritten. The CA's key is not kept, so nothing else can ever be signed with it: to
                add a host, run init again into a new directory and hand out the new ca.pem.

                Example:
                  recur tls init --host coordinator.lan,10.0.0.5 --out tls/
                  recur serve --db sweeps.db --listen tcp://0.0.0.0:7878 --tls-cert tls/server.pem --tls-key tls/server-key.pem
                  recur worker --coordinator https://10.0.0.5:7878 --ca-file tls/ca.pem --token-file sweeps.db.token
                """
        )

        @Option(help: "DNS names and IP addresses the coordinator is reached by (comma-separated, repeatable); the first is the subject.")
        var host: [String]
        @Option(help: "Directory to write into (created if missing).") var out: String
        @Option(help: "Days the server certificate is valid (the CA: \(Init.caDays)).") var days = 825

        /// The CA's lifetime; the server certificate must not outlive it.
        static let caDays = 3650

        func validate() throws {
            _ = try parsedHosts()
            guard (1...Self.caDays).contains(days) else {
                throw ValidationError("--days: \(days) must be between 1 and \(Self.caDays) (the CA's lifetime)")
            }
        }

        /// The `--host` names in order without repeats, each with its address bytes when it is an IP address.
        func parsedHosts() throws -> [(name: String, address: [UInt8]?)] {
            var seen = Set<String>()
            var result: [(name: String, address: [UInt8]?)] = []
            for name in host.flatMap({ $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }) {
                guard seen.insert(name).inserted else { continue }
                if let address = Self.ipAddress(name) {
                    result.append((name, address))
                    continue
                }
                // Letters, digits, '-', '.', '_' and '*' only: rejects spaces, ports ("host:7878") and URLs.
                // Labels of 1–63 characters, 253 in all, and not all digits at the end: 256.1.1.1 is
                // a mistyped address, not a name.
                let labels = name.split(separator: ".", omittingEmptySubsequences: false)
                let isDNSName =
                    !name.isEmpty && name.count <= 253 && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-._*".contains($0)) }
                    && labels.allSatisfy { (1...63).contains($0.count) } && !(labels.last?.allSatisfy(\.isNumber) ?? true)
                guard isDNSName else {
                    throw ValidationError(
                        "--host: '\(name)' is not a host name or IP address (labels of 1–63 characters; an IPv4 address is four numbers 0–255)"
                    )
                }
                result.append((name, nil))
            }
            return result
        }

        /// The 4 or 16 network-order bytes of an IPv4 or IPv6 address, or nil for anything else.
        static func ipAddress(_ text: String) -> [UInt8]? {
            var v4 = in_addr()
            if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
            var v6 = in6_addr()
            if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
            return nil
        }

        func run() throws {
            let names = try parsedHosts()
            let directory = out.hasSuffix("/") ? out : out + "/"
            let caPath = directory + "ca.pem"
            let certPath = directory + "server.pem"
            let keyPath = directory + "server-key.pem"
            // Checked before anything is written, so a refusal leaves no half-made set behind.
            for path in [caPath, certPath, keyPath] where FileManager.default.fileExists(atPath: path) {
                throw CLIError("\(path) exists; pick another --out or remove it")
            }
            do {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
            } catch {
                throw CLIError("cannot create directory \(out): \(error.localizedDescription)")
            }

            // An hour back: a peer whose clock is a little behind still accepts the certificates.
            let now = Date()
            let notBefore = now.addingTimeInterval(-3600)

            let caKey = Certificate.PrivateKey(P256.Signing.PrivateKey())
            let caName = try DistinguishedName { CommonName("Recur private CA") }
            let caKeyID = SubjectKeyIdentifier(hash: caKey.publicKey)
            let caExtensions = try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                caKeyID
            }
            let ca = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: caKey.publicKey,
                notValidBefore: notBefore,
                notValidAfter: now.addingTimeInterval(Double(Self.caDays) * 86_400),
                issuer: caName,
                subject: caName,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: caExtensions,
                issuerPrivateKey: caKey
            )

            let serverKey = P256.Signing.PrivateKey()
            let serverPublicKey = Certificate.PublicKey(serverKey.publicKey)
            let alternativeNames: [GeneralName] = names.map { entry in
                entry.address.map { GeneralName.ipAddress(ASN1OctetString(contentBytes: $0[...])) } ?? .dnsName(entry.name)
            }
            let serverExtensions = try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectAlternativeNames(alternativeNames)
                SubjectKeyIdentifier(hash: serverPublicKey)
                AuthorityKeyIdentifier(keyIdentifier: caKeyID.keyIdentifier)
            }
            let serverName = try DistinguishedName { CommonName(names[0].name) }
            let server = try Certificate(
                version: .v3,
                serialNumber: Certificate.SerialNumber(),
                publicKey: serverPublicKey,
                notValidBefore: notBefore,
                notValidAfter: now.addingTimeInterval(Double(days) * 86_400),
                issuer: ca.subject,
                subject: serverName,
                signatureAlgorithm: .ecdsaWithSHA256,
                extensions: serverExtensions,
                issuerPrivateKey: caKey
            )

            let caPEM = try ca.serializeAsPEM().pemString + "\n"
            // Leaf then CA: NIOSSLCertificate.fromPEMFile reads every certificate in the file.
            let chainPEM = try server.serializeAsPEM().pemString + "\n" + caPEM
            let keyPEM = serverKey.pemRepresentation
            try Self.create(caPath, caPEM, mode: 0o644)
            try Self.create(certPath, chainPEM, mode: 0o644)
            try Self.create(keyPath, keyPEM.hasSuffix("\n") ? keyPEM : keyPEM + "\n", mode: 0o600)

            print("wrote \(caPath) (give it to workers and the CLI: --ca-file)")
            print("wrote \(certPath) and \(keyPath) (recur serve --tls-cert \(certPath) --tls-key \(keyPath))")
            let until = server.notValidAfter.formatted(.iso8601.year().month().day())
            print("valid for: \(names.map { $0.name }.joined(separator: ", ")) until \(until)")
        }

        /// Creates `path` with `mode` from the start: O_EXCL never replaces a file (even one made since the
        /// check), and a 0600 key is never readable by others, not even briefly.
        static func create(_ path: String, _ text: String, mode: mode_t) throws {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
            guard fd >= 0 else {
                if errno == EEXIST { throw CLIError("\(path) exists; pick another --out or remove it") }
                throw CLIError("cannot create \(path): \(String(cString: strerror(errno)))")
            }
            defer { close(fd) }
            var rest = Array(text.utf8)[...]
            while !rest.isEmpty {
                let written = rest.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    let reason = String(cString: strerror(errno))
                    unlink(path)
                    throw CLIError("cannot write \(path): \(reason)")
                }
                rest = rest.dropFirst(written)
            }
        }
    }
}
