import ArgumentParser
import FCGIApp
import Platform

/// The `keycloak-fcgi` executable: a FastCGI responder that puts Keycloak authentication in
/// front of an API (`GET /`, `POST /login`, `GET /protected`). The command line only; the
/// service itself is the `FCGIApp` library.
@main
struct KeycloakFCGI: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keycloak-fcgi",
        abstract: "FastCGI responder for Keycloak (OpenID Connect) login and bearer-token checks behind nginx.",
        discussion: "Configuration comes from the environment and a .env file (the environment wins); see README.md.")

    @Flag(name: .customLong("check-config"), help: "Validate the configuration, print it with the secret redacted, and exit.")
    var checkConfig = false

    @Option(name: .customLong("env-file"), help: "The .env file to read (default: ./.env when it exists).")
    var envFile: String?

    func run() throws {
        // Before any thread exists, so that every thread inherits the blocked mask.
        ShutdownSignals.block()
        let configuration: AppConfiguration
        do {
            configuration = try AppConfiguration.fromProcess(envFile: envFile)
        } catch {
            StandardStream.error.writeLine(error.description)
            throw ExitCode(78)  // EX_CONFIG
        }
        if checkConfig {
            StandardStream.output.writeLine((configuration.summary + ["configuration OK"]).joined(separator: "\n"))
            return
        }
        configuration.applyProcessSettings()
        do {
            try Service.run(configuration)
        } catch {
            throw ExitCode(1)
        }
    }
}
