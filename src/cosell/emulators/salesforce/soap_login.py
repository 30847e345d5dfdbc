"""The Partner SOAP API ``login`` call, ``POST /services/Soap/u/{version}``.

This is how simple-salesforce (and most SOAP clients) log in with a username and password by
default. Only ``login`` is served; any other operation is a client fault. As on Salesforce, the
password is the user's password followed by their security token; the emulated integration user
has no security token, so the configured password alone (an empty token) logs in. Envelopes are
parsed with defusedxml: no DTDs, entities or external references.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import Element, ParseError
from xml.sax.saxutils import escape

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cosell.emulators.salesforce.gateway import apply_faults
from cosell.emulators.salesforce.ids import to18

if TYPE_CHECKING:
    from cosell.emulators.salesforce.emulator import SalesforceEmulator

SOAP_LOGIN_PATH = "/services/Soap/u/{version}"
ENVELOPE_NS = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER_NS = "urn:partner.soap.sforce.com"
INVALID_LOGIN = "Invalid username, password, security token; or user locked out."
_XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>'
_XSI = 'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
_CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}


class SoapFault(Exception):
    """A SOAP fault: ``sf:<CODE>`` with a typed detail, or a bare ``soapenv:Client`` fault."""

    def __init__(self, message: str, code: str | None = None, kind: str = "UnexpectedErrorFault"):
        super().__init__(message)
        self.message = message
        self.code = code
        self.kind = kind

    def response(self) -> Response:
        faultcode = f"sf:{self.code}" if self.code else "soapenv:Client"
        faultstring = f"{self.code}: {self.message}" if self.code else self.message
        detail = ""
        if self.code:
            detail = (
                f'<detail><sf:{self.kind} xsi:type="sf:{self.kind}">'
                f"<sf:exceptionCode>{self.code}</sf:exceptionCode>"
                f"<sf:exceptionMessage>{escape(self.message)}</sf:exceptionMessage>"
                f"</sf:{self.kind}></detail>"
            )
        body = (
            f'{_XML_HEAD}<soapenv:Envelope xmlns:soapenv="{ENVELOPE_NS}" '
            f'xmlns:sf="urn:fault.partner.soap.sforce.com" {_XSI}><soapenv:Body><soapenv:Fault>'
            f"<faultcode>{faultcode}</faultcode><faultstring>{escape(faultstring)}</faultstring>"
            f"{detail}</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
        )
        return _xml(body, status=500)


def _xml(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8")


def login_credentials(envelope: bytes) -> tuple[str, str]:
    """``(username, password)`` of a SOAP ``login`` envelope; a client fault for anything else."""
    try:
        root = fromstring(envelope, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as error:
        raise SoapFault(f"Unable to parse the SOAP envelope: {type(error).__name__}") from None
    operation = root.find(f"{{{ENVELOPE_NS}}}Body/*")
    if root.tag != f"{{{ENVELOPE_NS}}}Envelope" or operation is None:
        raise SoapFault("Expected a SOAP 1.1 Envelope with a Body")
    if operation.tag != f"{{{PARTNER_NS}}}login":
        raise SoapFault(f"No operation available for request {operation.tag}")
    return _child_text(operation, "username"), _child_text(operation, "password")


def _child_text(parent: Element, name: str) -> str:
    child = parent.find(f"{{{PARTNER_NS}}}{name}")
    return "" if child is None or child.text is None else child.text


class SoapLogin:
    """Checks a ``login`` call against the org's user and answers its ``loginResponse``."""

    def __init__(self, emulator: SalesforceEmulator) -> None:
        self._emulator = emulator
        self._config = emulator.config

    def login(self, version: str, envelope: bytes) -> str:
        if version not in self._config.api_versions:
            raise SoapFault("Invalid Api version specified on URL", "UNSUPPORTED_API_VERSION")
        username, password = login_credentials(envelope)
        if username != self._config.username or not hmac.compare_digest(
            password.encode(), self._config.password.encode()
        ):
            raise SoapFault(INVALID_LOGIN, "INVALID_LOGIN", kind="LoginFault")
        user_id = self._emulator.org.integration_user_id
        return self._response(version, self._emulator.sessions.issue(user_id), user_id)

    def _response(self, version: str, session_id: str, user_id: str) -> str:
        base, org15 = self._config.public_url, self._config.org_id[:15]
        result: dict[str, Any] = {
            "metadataServerUrl": f"{base}/services/Soap/m/{version}/{org15}",
            "passwordExpired": False,
            "sandbox": False,
            "serverUrl": f"{base}/services/Soap/u/{version}/{org15}",
            "sessionId": session_id,
            "userId": user_id,
        }
        body = "".join(_element(k, v) for k, v in result.items())
        user_info = "".join(_element(k, v) for k, v in self._user_info(user_id).items())
        return (
            f'{_XML_HEAD}<soapenv:Envelope xmlns:soapenv="{ENVELOPE_NS}" xmlns="{PARTNER_NS}" '
            f"{_XSI}><soapenv:Body><loginResponse><result>{body}<userInfo>{user_info}</userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )

    def _user_info(self, user_id: str) -> dict[str, Any]:
        found = self._emulator.org.find(user_id)
        user = found[1] if found else {}
        multi, corporate = self._config.multi_currency, self._config.corporate_currency
        return {
            "accessibilityMode": False,
            "currencySymbol": None if multi else _CURRENCY_SYMBOLS.get(corporate, corporate),
            "orgDefaultCurrencyIsoCode": None if multi else corporate,
            "orgDisallowHtmlAttachments": False,
            "orgHasPersonAccounts": False,
            "organizationId": self._config.org_id,
            "organizationMultiCurrency": multi,
            "organizationName": "cosell emulated org",
            "profileId": to18("00e" + self._config.org_id[3:15]),
            "roleId": None,
            "sessionSecondsValid": self._config.session_idle_timeout,
            "userDefaultCurrencyIsoCode": corporate if multi else None,
            "userEmail": user.get("Email"),
            "userFullName": user.get("Name"),
            "userId": user_id,
            "userLanguage": "en_US",
            "userLocale": "en_US",
            "userName": self._config.username,
            "userTimeZone": "GMT",
            "userType": "Standard",
            "userUiSkin": "Theme3",
        }


def _element(name: str, value: Any) -> str:
    if value is None:
        return f'<{name} xsi:nil="true"/>'
    text = str(value).lower() if isinstance(value, bool) else escape(str(value))
    return f"<{name}>{text}</{name}>"


async def soap_login(request: Request) -> Response:
    emulator: SalesforceEmulator = request.app.state.emulator
    emulator.calls.record(request.method, SOAP_LOGIN_PATH)
    faulted = await apply_faults(emulator, request)
    if faulted is not None:
        return faulted
    envelope = await request.body()
    try:
        with emulator.lock:
            body = SoapLogin(emulator).login(request.path_params["version"], envelope)
    except SoapFault as fault:
        return fault.response()
    return _xml(body)


def routes() -> list[Route]:
    return [Route(SOAP_LOGIN_PATH, soap_login, methods=["POST"])]
