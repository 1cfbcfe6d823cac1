"""What can go wrong with the local broker, each error saying what to do."""

from __future__ import annotations


class BrokerError(Exception):
    """Base of every error the local broker raises."""


class JavaNotFound(BrokerError):
    def __init__(self) -> None:
        super().__init__(
            "`java` is not on PATH. Install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`) "
            "or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker."
        )


class MavenNotFound(BrokerError):
    def __init__(self) -> None:
        super().__init__(
            "`mvn` is not on PATH; it is needed once to fetch the Kafka jars. Install Maven "
            "(e.g. `apt-get install maven`) or set KAFKA_BOOTSTRAP_SERVERS to use an existing broker."
        )


class JarFetchFailed(BrokerError):
    """Maven could not fetch the broker jars; the message carries the tail of its output."""


class PortInUse(BrokerError):
    def __init__(self, port: int, what: str) -> None:
        self.port = port
        super().__init__(
            f"127.0.0.1:{port} ({what}) is already in use by another process. Stop that process or pick "
            f"another port (settings kafka_port / kafka_controller_port, env LINEAGE_KAFKA_PORT / "
            f"LINEAGE_KAFKA_CONTROLLER_PORT)."
        )


class BrokerStartFailed(BrokerError):
    """The broker did not come up; the message carries the tail of its log."""
