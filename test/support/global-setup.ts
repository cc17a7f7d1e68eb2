// Placeholder replaced by the test harness (installs the Debian packages the tests need).
export default function setup(): void {}
