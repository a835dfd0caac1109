/// wfd's version, which `wfd --version`, `wfctl --version` and `wfctl status` print. The Debian
/// package's version (debian/changelog) starts with it; a test keeps the two equal.
public enum WfdVersion {
    public static let current = "0.1.0"
}
