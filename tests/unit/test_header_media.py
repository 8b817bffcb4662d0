"""Media and location headers: registration as Meta takes it, `params.header` checked and sent
in the exact Cloud API component shape, and the 132012 check the sandbox applies."""

import pytest
from wa_notify.domain.header_media import parameter_mismatch
from wa_notify.domain.problems import Invalid
from wa_notify.domain.rendering import render
from wa_notify.models_templates import validate_template

HANDLE = "4::aW1hZ2UvanBlZw==:ARa1ZDhwbLZM3EENeeg"
BODY = {"type": "BODY", "text": "Hi {{first_name}}, your invoice is attached.",
        "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}}


def template(header_format, category="UTILITY", **header):
    head = {"type": "HEADER", "format": header_format, **header}
    if header_format in ("IMAGE", "VIDEO", "DOCUMENT", "GIF") and "example" not in header:
        head["example"] = {"header_handle": [HANDLE]}
    return validate_template({"name": f"with_{header_format.lower()}", "language": "en", "category": category,
                              "parameter_format": "NAMED", "components": [head, BODY]})


def problems(spec, params):
    with pytest.raises(Invalid) as caught:
        render(spec, params, {})
    return {p.field: p.message for p in caught.value.problems}


@pytest.mark.parametrize("header_format", ["IMAGE", "VIDEO", "DOCUMENT", "GIF"])
def test_media_header_templates_register_with_metas_header_handle(header_format):
    # GIVEN a template whose HEADER is media, with Meta's example.header_handle
    # WHEN validated
    spec = template(header_format)
    # THEN it registers, the header's format kept, and it has no text variable in the header
    assert spec.header_format == header_format and spec.header_variables == []
    assert spec.components[0]["example"] == {"header_handle": [HANDLE]}


def test_media_header_without_its_handle_and_location_in_authentication_are_refused():
    # GIVEN a media header without header_handle, and a LOCATION header in an AUTHENTICATION template
    # WHEN validated
    # THEN each names its field
    with pytest.raises(Invalid) as caught:
        template("IMAGE", example={})
    assert [p.field for p in caught.value.problems] == ["components[0].example.header_handle"]
    with pytest.raises(Invalid) as caught:
        template("LOCATION", category="AUTHENTICATION")
    assert "components[0].format" in [p.field for p in caught.value.problems]


@pytest.mark.parametrize(("header_format", "header", "parameter"), [
    ("IMAGE", {"image": {"link": "https://cdn.example.com/p.jpg"}}, {"type": "image", "image": {"link": "https://cdn.example.com/p.jpg"}}),
    ("IMAGE", {"image": {"id": "2871834006348767"}}, {"type": "image", "image": {"id": "2871834006348767"}}),
    ("VIDEO", {"video": {"link": "https://cdn.example.com/v.mp4"}}, {"type": "video", "video": {"link": "https://cdn.example.com/v.mp4"}}),
    ("DOCUMENT", {"document": {"link": "https://cdn.example.com/i.pdf", "filename": "Invoice A-1001.pdf"}},
     {"type": "document", "document": {"link": "https://cdn.example.com/i.pdf", "filename": "Invoice A-1001.pdf"}}),
    ("GIF", {"gif": {"id": "123"}}, {"type": "gif", "gif": {"id": "123"}}),
    ("LOCATION", {"location": {"latitude": 25.0339, "longitude": 121.5645, "name": "Taipei 101", "address": "No. 7, Xinyi Rd"}},
     {"type": "location", "location": {"latitude": "25.0339", "longitude": "121.5645", "name": "Taipei 101", "address": "No. 7, Xinyi Rd"}}),
    ("LOCATION", {"location": {"latitude": "-33.86", "longitude": 151}}, {"type": "location", "location": {"latitude": "-33.86", "longitude": "151"}}),
])
def test_header_goes_out_in_the_exact_cloud_api_component(header_format, header, parameter):
    # GIVEN a media or location header template and params.header of its kind
    spec = template(header_format)
    # WHEN rendered
    out = render(spec, {"first_name": "Ana", "header": header}, {}, to="+886912345678")
    # THEN the request's first component is Meta's header component, before the body, and preview shows it
    components = out.request["template"]["components"]
    assert components[0] == {"type": "header", "parameters": [parameter]}
    assert components[1]["type"] == "body"
    assert out.header_media == parameter and out.header is None
    # AND Meta (the sandbox) finds the header parameter matching the template
    assert parameter_mismatch(header_format, components[0]["parameters"]) is None


@pytest.mark.parametrize(("header_format", "header", "field", "fragment"), [
    ("IMAGE", None, "params.header", "is required: the template's header is IMAGE"),
    ("DOCUMENT", {"image": {"link": "https://cdn.example.com/p.jpg"}}, "params.header.image", "header is DOCUMENT, not image"),
    ("IMAGE", {"image": {"link": "http://cdn.example.com/p.jpg"}}, "params.header.image.link", "https URL"),
    ("IMAGE", {"image": {"link": "https://cdn.example.com/p.jpg", "id": "12"}}, "params.header.image", "not both"),
    ("IMAGE", {"image": {}}, "params.header.image", "not neither"),
    ("IMAGE", {"image": {"id": "../etc/passwd"}}, "params.header.image.id", "digits"),
    ("IMAGE", {"image": {"link": "https://cdn.example.com/p.jpg", "filename": "p.jpg"}}, "params.header.image.filename", "not a field"),
    ("IMAGE", {"image": {"link": "https://cdn.example.com/p.jpg"}, "video": {"id": "1"}}, "params.header", "one object"),
    ("DOCUMENT", {"document": {"id": "12", "filename": "a/b.pdf"}}, "params.header.document.filename", "without /"),
    ("LOCATION", {"location": {"latitude": 91, "longitude": 0}}, "params.header.location.latitude", "out of range"),
    ("LOCATION", {"location": {"latitude": 0, "longitude": -180.5}}, "params.header.location.longitude", "out of range"),
    ("LOCATION", {"location": {"latitude": True, "longitude": 0}}, "params.header.location.latitude", "is required"),
    ("LOCATION", {"location": {"longitude": 0}}, "params.header.location.latitude", "is required"),
    ("LOCATION", {"location": {"latitude": 1, "longitude": 2, "name": ""}}, "params.header.location.name", "non-empty"),
])
def test_missing_or_wrong_header_is_refused_naming_the_field(header_format, header, field, fragment):
    # GIVEN a media or location header template and a missing or wrong params.header
    spec = template(header_format)
    params = {"first_name": "Ana", **({"header": header} if header is not None else {})}
    # WHEN rendered
    found = problems(spec, params)
    # THEN the problem names params.header... and says what is wrong
    assert field in found and fragment in found[field], found


def test_a_header_param_for_a_template_without_a_media_header_is_unknown():
    # GIVEN a template with no header at all
    spec = validate_template({"name": "plain", "language": "en", "category": "UTILITY", "parameter_format": "NAMED", "components": [BODY]})
    # WHEN params.header is given
    found = problems(spec, {"first_name": "Ana", "header": {"image": {"id": "1"}}})
    # THEN it is refused as a variable the template does not have
    assert "is not a variable" in found["params.header"]


@pytest.mark.parametrize(("header_format", "parameters", "ok"), [
    ("IMAGE", [], False),
    ("IMAGE", [{"type": "text", "text": "x"}], False),
    ("DOCUMENT", [{"type": "image", "image": {"link": "https://a.example/p.jpg"}}], False),
    ("IMAGE", [{"type": "image", "image": {}}], False),
    ("LOCATION", [{"type": "location", "location": {"latitude": "1"}}], False),
    ("TEXT", [{"type": "image", "image": {"id": "1"}}], False),
    (None, [{"type": "image", "image": {"id": "1"}}], False),
    ("TEXT", [{"type": "text", "text": "A-1"}], True),
    ("VIDEO", [{"type": "video", "video": {"id": "1"}}], True),
])
def test_parameter_mismatch_is_what_meta_refuses_with_132012(header_format, parameters, ok):
    # GIVEN header parameters as a request carries them
    # WHEN checked against the template's header format
    # THEN a missing, extra or wrong-type media parameter is a mismatch (Meta's 132012)
    assert (parameter_mismatch(header_format, parameters) is None) is ok


def test_a_body_variable_named_header_cannot_go_with_a_media_header():
    # GIVEN an IMAGE-header template whose NAMED body has a variable {{header}}
    body = {"type": "BODY", "text": "Hi {{first_name}}, see {{header}} above.",
            "example": {"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}, {"param_name": "header", "example": "x"}]}}
    payload = {"name": "clash", "language": "en", "category": "UTILITY", "parameter_format": "NAMED",
               "components": [{"type": "HEADER", "format": "IMAGE", "example": {"header_handle": [HANDLE]}}, body]}
    # WHEN registered
    with pytest.raises(Invalid) as caught:
        validate_template(payload)
    # THEN the body text is named: params.header carries the image, so {{header}} could never be filled
    assert [(p.field, "params.header" in p.message) for p in caught.value.problems] == [("components[1].text", True)]
    # AND the same body with a TEXT header registers
    payload["components"][0] = {"type": "HEADER", "format": "TEXT", "text": "Your order"}
    assert validate_template(payload).body_variables[1].name == "header"


@pytest.mark.parametrize("link", [
    "https://127.0.0.1/x.pdf",  # loopback: Meta can never download it
    "https://169.254.169.254/latest/meta-data",  # cloud metadata
    "https://10.0.0.5/invoice.pdf",  # private
    "https://metadata.google.internal/x.pdf",
    "https://example.com/\u0000.pdf",  # a control character inside the URL
    "https://example.com/\u0085x.pdf",
])
def test_a_media_link_must_be_public_as_the_refusal_says(link):
    # GIVEN a document header template, and a link the refusal's "public https URL" excludes
    spec = template("DOCUMENT")
    # WHEN it is rendered with that link
    found = problems(spec, {"header": {"document": {"link": link}}, "first_name": "Ana"})
    # THEN the link is refused, named
    assert "must be a public https URL" in found["params.header.document.link"]


@pytest.mark.parametrize("filename", ["\u202efdp.exe", "invoice\u2066.pdf", "a\u200f.pdf"])
def test_a_document_filename_cannot_turn_its_text_around(filename):
    # GIVEN a document header whose filename holds a direction control ("\u202efdp.exe" reads "exe.pdf")
    spec = template("DOCUMENT")
    # WHEN it is rendered
    found = problems(spec, {"header": {"document": {"link": "https://example.com/i.pdf", "filename": filename}},
                            "first_name": "Ana"})
    # THEN the filename is refused, named
    assert "direction controls" in found["params.header.document.filename"]


def test_a_public_link_and_a_plain_filename_still_pass():
    # GIVEN a public https link and an ordinary file name
    spec = template("DOCUMENT")
    # WHEN it is rendered
    request = render(spec, {"header": {"document": {"link": "https://cdn.example.com/i.pdf", "filename": "Fatura março.pdf"}},
                            "first_name": "Ana"}, {})
    # THEN it goes out as given
    assert "Fatura março.pdf" in str(request)
