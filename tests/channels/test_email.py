import datetime
import email
import email.policy
import ipaddress
import socket
import ssl

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import make_notification

from app.config.receivers import Receiver
from channels.delivery import Deliverer
from channels.email import EmailChannel, EmailConfig, classify_smtp


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages = []
        self.logins = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            {
                "from": envelope.mail_from,
                "to": list(envelope.rcpt_tos),
                "msg": email.message_from_bytes(envelope.content, policy=email.policy.default),
                "tls": session.ssl is not None,
            }
        )
        return "250 OK"

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == b"alerts" and auth_data.password == b"s3cret"
        self.logins.append((mechanism, auth_data.login, ok))
        return AuthResult(success=ok)


@pytest.fixture
def smtp():
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=free_port())
    ctl.start()
    yield inbox, ctl.port
    ctl.stop()


def self_signed(tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def parts(msg):
    assert msg.get_content_type() == "multipart/alternative"
    found = {p.get_content_type(): p.get_content() for p in msg.iter_parts()}
    assert set(found) == {"text/plain", "text/html"}
    return found["text/plain"], found["text/html"]


async def test_firing_and_resolved_mails_are_multipart_alternative(smtp):
    inbox, port = smtp
    rx = Receiver(
        name="ops",
        email_configs=[
            {
                "to": "Ops <ops@example.com>, oncall@example.com",
                "from": "alertstream@example.com",
                "smarthost": f"127.0.0.1:{port}",
                "require_tls": False,
                "send_resolved": True,
                "headers": {"x-team": "{{ commonLabels.severity }}-team"},
            }
        ],
    )
    d = Deliverer({"ops": rx}, session=None)
    for i, status in enumerate(["firing", "resolved"]):
        n = make_notification("email", status, id=f"mail-{i}", n_alerts=2)
        n.alerts[0]["annotations"]["summary"] = "<script>alert(1)</script>"
        receipt = await d.deliver(n)
        assert receipt.status == "delivered", receipt
        got = inbox.messages[-1]
        assert got["from"] == "alertstream@example.com"
        assert got["to"] == ["ops@example.com", "oncall@example.com"]
        msg = got["msg"]
        assert (
            msg["Subject"]
            == f"[{status.upper()}{':2' if status == 'firing' else ''}] HighCPU (critical)"
        )
        assert msg["To"] == "Ops <ops@example.com>, oncall@example.com"
        assert msg["From"] == "alertstream@example.com"
        assert msg["Message-Id"] == f"<mail-{i}@alertstream>"
        assert msg["X-Team"] == "critical-team"
        text, html = parts(msg)
        assert "HighCPU" in text and "<script>alert(1)</script>" in text
        assert "&lt;script&gt;" in html and "<script>" not in html  # autoescaped
        assert "https://runbooks.example/cpu" in html
    assert len(inbox.messages) == 2


async def test_default_send_resolved_is_false_like_alertmanager():
    cfg = EmailConfig.model_validate({"to": "a@b.c", "from": "x@y.z", "smarthost": "h:25"})
    assert cfg.send_resolved is False and cfg.require_tls is True


async def test_starttls_and_auth_with_a_self_signed_cert(tmp_path):
    cert, key = self_signed(tmp_path)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    inbox = Inbox()
    ctl = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=ctx,
        require_starttls=True,
        authenticator=inbox.authenticator,
        auth_required=True,
    )
    ctl.start()
    try:
        base = {
            "to": "ops@example.com",
            "from": "alertstream@example.com",
            "smarthost": f"127.0.0.1:{ctl.port}",
            "auth_username": "alerts",
            "auth_password": "s3cret",
            "tls_config": {"ca_file": cert},
        }
        ch = EmailChannel(EmailConfig.model_validate(base))
        rendered = ch.render(make_notification("email"))
        out = await ch.send(rendered)
        assert out.ok, out
        assert inbox.messages[0]["tls"] is True
        assert inbox.logins[-1][1:] == (b"alerts", True)
        parts(inbox.messages[0]["msg"])

        # an untrusted certificate is a configuration error, not a retry
        untrusted = EmailChannel(EmailConfig.model_validate({**base, "tls_config": {}}))
        out = await untrusted.send(untrusted.render(make_notification("email")))
        assert out.kind == "give_up" and "TLS" in out.detail
    finally:
        ctl.stop()


async def test_connection_refused_is_retryable():
    cfg = EmailConfig.model_validate(
        {"to": "a@b.c", "from": "x@y.z", "smarthost": f"127.0.0.1:{free_port()}"}
    )
    ch = EmailChannel(cfg)
    out = await ch.send(ch.render(make_notification("email")))
    assert out.kind == "retry"


def test_smtp_reply_classification():
    # (aiosmtpd stalls after a failed AUTH, so the 535 case is checked on the classifier)
    out = classify_smtp(aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), 0.1)
    assert out.kind == "give_up" and out.status == 535
    out = classify_smtp(aiosmtplib.SMTPResponseException(451, "try later"), 0.1)
    assert out.kind == "retry" and out.status == 451
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "no such user", "x@y.z")]
    )
    assert classify_smtp(refused, 0.1).kind == "give_up"
    assert classify_smtp(aiosmtplib.SMTPServerDisconnected("gone"), 0.1).kind == "retry"


def test_config_errors():
    with pytest.raises(ValueError, match="host:port"):
        EmailConfig.model_validate({"to": "a@b.c", "from": "x@y.z", "smarthost": "nohost"})
    with pytest.raises(ValueError, match="from is required"):
        EmailConfig.model_validate({"to": "a@b.c", "smarthost": "h:25"})
    with pytest.raises(ValueError, match="template syntax error"):
        EmailConfig.model_validate(
            {"to": "a@b.c", "from": "x@y.z", "smarthost": "h:25", "html": "{% if %}"}
        )
    with pytest.raises(ValueError, match="duplicate header"):
        EmailConfig.model_validate(
            {
                "to": "a",
                "from": "x",
                "smarthost": "h:25",
                "headers": {"subject": "a", "Subject": "b"},
            }
        )


async def test_an_escalation_page_carries_its_signed_action_links(smtp):
    inbox, port = smtp
    cfg = {"to": "ada@example.com", "from": "p@example.com", "smarthost": f"127.0.0.1:{port}"}
    rx = Receiver(name="user:ada", email_configs=[{**cfg, "require_tls": False}])
    links = {"ack": "http://as.example/api/v1/actions/T1.S1", "resolve": "http://as/x/T2.S2"}
    n = make_notification(
        "email", receiver="user:ada", id="page-1", extra={"escalation": {"links": links}}
    )
    receipt = await Deliverer({"user:ada": rx}, session=None).deliver(n)
    assert receipt.status == "delivered", receipt
    text, html = parts(inbox.messages[-1]["msg"])
    assert f"Ack: {links['ack']}" in text and f"Resolve: {links['resolve']}" in text
    assert f'<a href="{links["ack"]}">Ack</a>' in html
