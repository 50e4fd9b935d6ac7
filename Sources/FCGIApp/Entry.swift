/// The process entry point: the command line (`KeycloakFCGI`), or, in a fuzzing build
/// (`-DKEYCLOAK_FCGI_FUZZING`, see scripts/fuzz.sh), libFuzzer's driver.
@main
enum Entry {
    static func main() {
        #if KEYCLOAK_FCGI_FUZZING
        FuzzDriver.run()
        #else
        KeycloakFCGI.main()
        #endif
    }
}
