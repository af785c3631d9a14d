"""Errors a user can cause. The CLI prints them as one line and exits 2; they never carry a traceback."""


class UserError(Exception):
    """Bad input or usage: a missing file, an unreadable bundle, an unknown check id, a YAML error.

    `where` is a location such as "inventory.ini:12" and is put in front of the message.
    """

    exit_code = 2

    def __init__(self, message: str, where: str | None = None):
        self.message = message
        self.where = where
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message
