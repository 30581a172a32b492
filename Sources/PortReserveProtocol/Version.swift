/// The version every program prints with `--version`, and the one the packages carry:
/// `packaging/debian/changelog` and `packaging/rpm/portreserve.spec` must say the same, which
/// `VersionTests` checks. It sorts above the C original's last release, 0.0.5, in dpkg and rpm
/// alike, so the packages upgrade it.
public enum Version {
    public static let current = "0.1.0"
}
