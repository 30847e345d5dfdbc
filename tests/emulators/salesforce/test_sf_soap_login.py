"""The Partner SOAP API ``login`` call, in process."""

from html import escape
from xml.etree.ElementTree import Element

import pytest
from defusedxml.ElementTree import fromstring
from sf_api import TestClient
from starlette.applications import Starlette

from cosell.emulators.salesforce import SalesforceEmulatorConfig, create_app

SOAP = "/services/Soap/u/62.0"
NS = {
    "soapenv": "http://schemas.xmlsoap.org/soap/envelope/",
    "p": "urn:partner.soap.sforce.com",
    "sf": "urn:fault.partner.soap.sforce.com",
}


def envelope(username: str, password: str, operation: str = "login") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8" ?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Body>'
        f"<urn:{operation}><urn:username>{escape(username)}</urn:username>"
        f"<urn:password>{escape(password)}</urn:password></urn:{operation}>"
        "</soapenv:Body></soapenv:Envelope>"
    )


def post(client: TestClient, body: str | bytes, path: str = SOAP) -> Element:
    response = client.post(
        path, content=body, headers={"Content-Type": "text/xml", "SOAPAction": "login"}
    )
    assert response.headers["content-type"].startswith("text/xml")
    root: Element = fromstring(response.content)
    fault = root.find("soapenv:Body/soapenv:Fault", NS)
    assert response.status_code == (200 if fault is None else 500)
    return root


def result(root: Element) -> Element:
    found = root.find("soapenv:Body/p:loginResponse/p:result", NS)
    assert found is not None
    return found


def text(element: Element, path: str) -> str | None:
    found = element.find(path, NS)
    assert found is not None, path
    return found.text


def test_login_answers_a_session_the_rest_api_accepts(
    client: TestClient, config: SalesforceEmulatorConfig, app: Starlette
) -> None:
    login = result(post(client, envelope(config.username, config.password)))
    session_id = text(login, "p:sessionId")
    limits = client.get(
        "/services/data/v62.0/limits", headers={"Authorization": f"Bearer {session_id}"}
    )
    assert limits.status_code == 200
    org15 = config.org_id[:15]
    assert text(login, "p:serverUrl") == f"{config.public_url}/services/Soap/u/62.0/{org15}"
    assert text(login, "p:metadataServerUrl") == f"{config.public_url}/services/Soap/m/62.0/{org15}"
    assert text(login, "p:userId") == app.state.emulator.org.integration_user_id


def test_login_describes_the_user_and_org(
    client: TestClient, config: SalesforceEmulatorConfig, app: Starlette
) -> None:
    info = result(post(client, envelope(config.username, config.password))).find("p:userInfo", NS)
    assert info is not None
    assert text(info, "p:organizationId") == config.org_id
    assert text(info, "p:userName") == config.username
    assert text(info, "p:userId") == app.state.emulator.org.integration_user_id
    assert text(info, "p:sessionSecondsValid") == str(config.session_idle_timeout)
    assert text(info, "p:organizationMultiCurrency") == "true"
    assert text(info, "p:userDefaultCurrencyIsoCode") == config.corporate_currency
    assert info.find("p:roleId", NS) is not None
    assert text(info, "p:roleId") is None


def test_single_currency_org_names_its_currency_on_the_org() -> None:
    config = SalesforceEmulatorConfig(multi_currency=False, corporate_currency="EUR")
    with TestClient(create_app(config)) as client:
        info = result(post(client, envelope(config.username, config.password)))
    assert text(info, "p:userInfo/p:orgDefaultCurrencyIsoCode") == "EUR"
    assert text(info, "p:userInfo/p:currencySymbol") == "€"
    assert text(info, "p:userInfo/p:userDefaultCurrencyIsoCode") is None


def test_escaped_characters_in_the_password_are_read_as_text() -> None:
    config = SalesforceEmulatorConfig(password="p&ss<w>rd'\"")
    with TestClient(create_app(config)) as client:
        login = result(post(client, envelope(config.username, config.password)))
    assert text(login, "p:sessionId")


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("integration@partner.example", "wrong"),
        ("someone@partner.example", "sandbox-password"),
        ("integration@partner.example", "sandbox-passwordSECURITYTOKEN"),
        ("integration@partner.example", ""),
    ],
)
def test_wrong_credentials_are_an_invalid_login_fault(
    client: TestClient, app: Starlette, username: str, password: str
) -> None:
    root = post(client, envelope(username, password))
    fault = root.find("soapenv:Body/soapenv:Fault", NS)
    assert fault is not None
    assert text(fault, "faultcode") == "sf:INVALID_LOGIN"
    assert text(fault, "detail/sf:LoginFault/sf:exceptionCode") == "INVALID_LOGIN"
    message = text(fault, "detail/sf:LoginFault/sf:exceptionMessage")
    assert message == "Invalid username, password, security token; or user locked out."
    assert app.state.emulator.sessions.revoke_all() == 0


def test_an_unknown_api_version_is_refused(
    client: TestClient, config: SalesforceEmulatorConfig
) -> None:
    root = post(client, envelope(config.username, config.password), "/services/Soap/u/10.0")
    code = text(root, "soapenv:Body/soapenv:Fault/detail/sf:UnexpectedErrorFault/sf:exceptionCode")
    assert code == "UNSUPPORTED_API_VERSION"


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Body><urn:login>'
    "<urn:username>&lol2;</urn:username><urn:password>x</urn:password>"
    "</urn:login></soapenv:Body></soapenv:Envelope>"
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:urn="urn:partner.soap.sforce.com"><soapenv:Body><urn:login>'
    "<urn:username>&x;</urn:username><urn:password>x</urn:password>"
    "</urn:login></soapenv:Body></soapenv:Envelope>"
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (BILLION_LAUGHS, "Unable to parse the SOAP envelope: DTDForbidden"),
        (EXTERNAL_ENTITY, "Unable to parse the SOAP envelope: DTDForbidden"),
        ("<soapenv:Envelope", "Unable to parse the SOAP envelope: ParseError"),
        ("<login/>", "Expected a SOAP 1.1 Envelope with a Body"),
        (
            envelope("a", "b", operation="query"),
            "No operation available for request {urn:partner.soap.sforce.com}query",
        ),
    ],
)
def test_unreadable_or_other_envelopes_are_client_faults(
    client: TestClient, body: str, message: str
) -> None:
    fault = post(client, body).find("soapenv:Body/soapenv:Fault", NS)
    assert fault is not None
    assert text(fault, "faultcode") == "soapenv:Client"
    assert text(fault, "faultstring") == message


def test_login_calls_are_logged_and_faults_apply(
    client: TestClient, config: SalesforceEmulatorConfig
) -> None:
    client.post("/_emulator/faults", json={"kind": "server_error", "count": 1, "path": SOAP})
    failed = client.post(SOAP, content=envelope(config.username, config.password))
    assert failed.status_code == 500
    assert "text/html" in failed.headers["content-type"]
    assert result(post(client, envelope(config.username, config.password)))
    calls = client.get("/_emulator/calls").json()["calls"]
    assert calls["POST /services/Soap/u/{version}"] == 2
