"""An email backend for operators who chose to read mails in the log: links are withheld.

Invitation and password-reset links sign a person in; a log line must never be able to.
"""

import re

from django.core.mail.backends.console import EmailBackend

_LINK = re.compile(r"\w+://\S+")
WITHHELD = "[link withheld from the log]"


class LinklessConsoleBackend(EmailBackend):
    """Django's console backend writing only sender, recipients, subject and the plain body, links replaced.

    The body is redacted as text, before any transfer encoding could hide a link from the pattern; HTML
    alternatives and attachments are left out.
    """

    def write_message(self, message):
        lines = [
            f"From: {message.from_email}",
            f"To: {', '.join(message.to)}",
            f"Subject: {_LINK.sub(WITHHELD, str(message.subject))}",
            "",
            _LINK.sub(WITHHELD, str(message.body)),
        ]
        self.stream.write("\n".join(lines) + "\n" + "-" * 79 + "\n")
