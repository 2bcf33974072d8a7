"""template.yaml's agent board: who can reach the function, whose tokens it trusts, what its role may read.

Evaluated with cfn_eval under the default parameters (the stack creates a Cognito user pool) and with a company
OIDC issuer (no Cognito at all). The front door: `GET /` and `GET /config.json` are the only public routes,
everything else needs a JWT checked by the API's authorizer, and nothing else reaches the function.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_eval import PSEUDO, Stack, load_template  # noqa: E402

ISSUER = "https://login.example.com/tenant-1/v2.0"
CLIENT = "0oa1b2c3d4e5f6g7h8i9"
COMPANY_IDP = {"BoardOidcIssuer": ISSUER, "BoardOidcClientId": CLIENT}
KEY = "arn:aws:kms:us-east-1:123456789012:key/0a1b2c3d-0000-1111-2222-333344445555"
COGNITO_ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/ref:BoardUserPool"
BOARD_URL = "apiendpoint:AgentBoardApi/"  # !Sub ${AgentBoardApi.ApiEndpoint}/, as cfn_eval renders it
PUBLIC = {"GET /", "GET /config.json"}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template()


def of_type(stack: Stack, type_: str) -> dict[str, dict]:
    """Active resources of a type, their properties evaluated."""
    return {lid: stack.value(r.get("Properties", {})) for lid, r in stack.resources(type_).items()}


def board_api(stack: Stack) -> str:
    (api,) = of_type(stack, "AWS::ApiGatewayV2::Api")
    return api


def function_env(stack: Stack) -> dict[str, str]:
    return stack.value(stack.template["Resources"]["AgentBoardFunction"]["Properties"]["Environment"])["Variables"]


def output(stack: Stack, name: str) -> object:
    spec = stack.template["Outputs"][name]
    if "Condition" in spec and not stack.condition(spec["Condition"]):
        return None
    return stack.value(spec["Value"])


def authorizer(stack: Stack) -> tuple[str, dict]:
    (item,) = of_type(stack, "AWS::ApiGatewayV2::Authorizer").items()
    return item


BOTH = pytest.mark.parametrize("params", [{}, COMPANY_IDP], ids=["cognito", "company-idp"])


# ------------------------------------------------------------------------------------------ the front door


@BOTH
def test_only_the_page_and_its_config_are_public_every_other_route_needs_the_jwt_authorizer(
    template: dict, params: dict
) -> None:
    stack = Stack(template, params)
    api = board_api(stack)
    authorizer_id, _ = authorizer(stack)
    routes = of_type(stack, "AWS::ApiGatewayV2::Route")
    keys = {r["RouteKey"] for r in routes.values()}
    assert PUBLIC <= keys, "the page and its config must be reachable before sign-in"
    assert keys - PUBLIC, "the page needs its data routes"
    (integration,) = of_type(stack, "AWS::ApiGatewayV2::Integration")
    for lid, route in routes.items():
        assert route["ApiId"] == f"ref:{api}", lid
        assert route["Target"] == f"integrations/ref:{integration}", lid
        assert route["RouteKey"].startswith("GET /"), f"{lid}: every route is a GET (API.md), not {route['RouteKey']}"
        if route["RouteKey"] in PUBLIC:
            assert route.get("AuthorizationType", "NONE") == "NONE", lid
            assert "AuthorizerId" not in route, lid
        else:
            assert route.get("AuthorizationType") == "JWT", f"{lid} ({route['RouteKey']}) is not behind the JWT authorizer"
            assert route.get("AuthorizerId") == f"ref:{authorizer_id}", lid
    assert "GET /api/{proxy+}" in keys


@BOTH
def test_nothing_else_reaches_the_function(template: dict, params: dict) -> None:
    stack = Stack(template, params)
    routes = of_type(stack, "AWS::ApiGatewayV2::Route")
    keys = [r["RouteKey"] for r in routes.values()]
    assert "$default" not in keys
    assert not [k for k in keys if k.split(" ")[0] == "ANY"]
    assert len(keys) == len(set(keys))
    # Quick create (Target / RouteKey on the API) would add a $default route outside the Route resources;
    # an OpenAPI body could add any route.
    (api,) = of_type(stack, "AWS::ApiGatewayV2::Api").values()
    assert api["ProtocolType"] == "HTTP"
    assert not {"Target", "RouteKey", "Body", "BodyS3Location", "CredentialsArn"} & set(api)
    assert api.get("DisableExecuteApiEndpoint") is not True, "the board is served at the execute-api URL"
    # No other door: no SAM event (an implicit API), no function URL, no other API type.
    function = template["Resources"]["AgentBoardFunction"]["Properties"]
    assert "Events" not in function and "FunctionUrlConfig" not in function
    for type_ in ("AWS::Lambda::Url", "AWS::Serverless::Api", "AWS::Serverless::HttpApi", "AWS::ApiGateway::RestApi"):
        assert not stack.resources(type_), type_
    # The only invoke permission: API Gateway, from this API, GET routes.
    api_id = board_api(stack)
    permissions = [p for p in of_type(stack, "AWS::Lambda::Permission").values()
                   if p["FunctionName"] in ("arn:AgentBoardFunction", "ref:AgentBoardFunction")]
    assert len(permissions) == 1
    (permission,) = permissions
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["Action"] == "lambda:InvokeFunction"
    assert permission["SourceArn"] == f"arn:aws:execute-api:us-east-1:123456789012:ref:{api_id}/*/GET/*"


def test_the_stage_throttles_logs_and_deploys_itself(template: dict) -> None:
    stack = Stack(template, {})
    (stage,) = of_type(stack, "AWS::ApiGatewayV2::Stage").values()
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    settings = stage["DefaultRouteSettings"]
    assert 0 < settings["ThrottlingRateLimit"] <= 100 and 0 < settings["ThrottlingBurstLimit"] <= 200
    logs = stage["AccessLogSettings"]
    assert logs["DestinationArn"] == "arn:AgentBoardAccessLogGroup"
    assert "$context.requestId" in logs["Format"] and "$context.authorizer.claims.sub" in logs["Format"]
    json.loads(re.sub(r"\$context\.[A-Za-z.]+", "x", logs["Format"]))  # one JSON object per line
    group = stack.value(template["Resources"]["AgentBoardAccessLogGroup"]["Properties"])
    assert group["KmsKeyId"] == "arn:EncryptionKey" and group["RetentionInDays"] > 0
    (integration,) = of_type(stack, "AWS::ApiGatewayV2::Integration").values()
    assert integration["IntegrationType"] == "AWS_PROXY"
    assert integration["PayloadFormatVersion"] == "2.0"
    assert integration["IntegrationUri"] == "arn:AgentBoardFunction"


# ------------------------------------------------------------------------------------------ whose tokens


def test_without_an_issuer_the_authorizer_and_the_page_trust_the_created_user_pool(template: dict) -> None:
    stack = Stack(template, {})
    assert stack.rules_hold() == []
    _, props = authorizer(stack)
    assert props["AuthorizerType"] == "JWT"
    assert props["IdentitySource"] == ["$request.header.Authorization"]
    assert props["JwtConfiguration"] == {"Issuer": COGNITO_ISSUER, "Audience": ["ref:BoardUserPoolClient"]}
    env = function_env(stack)
    assert (env["OIDC_ISSUER"], env["OIDC_CLIENT_ID"], env["OIDC_SCOPE"]) == (
        COGNITO_ISSUER, "ref:BoardUserPoolClient", "openid")
    assert set(stack.resources("AWS::Cognito::UserPool")) == {"BoardUserPool"}
    assert set(stack.resources("AWS::Cognito::UserPoolClient")) == {"BoardUserPoolClient"}
    assert set(stack.resources("AWS::Cognito::UserPoolDomain")) == {"BoardUserPoolDomain"}
    assert output(stack, "BoardUserPoolId") == "ref:BoardUserPool"
    assert output(stack, "BoardOidcIssuerOut") == COGNITO_ISSUER


def test_with_a_company_issuer_the_authorizer_trusts_it_and_no_cognito_resource_exists(template: dict) -> None:
    stack = Stack(template, COMPANY_IDP)
    assert stack.rules_hold() == []
    _, props = authorizer(stack)
    assert props["AuthorizerType"] == "JWT"
    assert props["JwtConfiguration"] == {"Issuer": ISSUER, "Audience": [CLIENT]}
    env = function_env(stack)
    assert (env["OIDC_ISSUER"], env["OIDC_CLIENT_ID"]) == (ISSUER, CLIENT)
    cognito = [lid for lid, r in template["Resources"].items()
               if r["Type"].startswith("AWS::Cognito::") and stack.active(lid)]
    assert cognito == []
    for name in ("BoardUserPoolId", "BoardUserPoolClientId", "BoardSignInDomain"):
        assert output(stack, name) is None, name
    assert output(stack, "BoardOidcIssuerOut") == ISSUER
    assert output(stack, "BoardUrl") == BOARD_URL


def test_an_issuer_without_a_client_id_is_refused(template: dict) -> None:
    assert len(Stack(template, {"BoardOidcIssuer": ISSUER}).rules_hold()) == 1
    assert len(Stack(template, {"BoardOidcClientId": CLIENT}).rules_hold()) == 1


@pytest.mark.parametrize("issuer", ["http://login.example.com/", "login.example.com", "https://a b"])
def test_the_issuer_must_be_an_https_url(template: dict, issuer: str) -> None:
    with pytest.raises(ValueError, match="BoardOidcIssuer"):
        Stack(template, {"BoardOidcIssuer": issuer, "BoardOidcClientId": CLIENT})


# ------------------------------------------------------------------------------------------ the role


@pytest.mark.parametrize("params,key", [({}, "arn:EncryptionKey"), ({"KmsKeyArn": KEY}, KEY)])
def test_the_board_role_may_only_query_the_agent_table_and_its_indexes(template: dict, params: dict, key: str) -> None:
    stack = Stack(template, params)
    function = template["Resources"]["AgentBoardFunction"]["Properties"]
    assert function["Role"] == {"Fn::GetAtt": ["AgentBoardRole", "Arn"]}
    assert "Policies" not in function
    role = stack.value(template["Resources"]["AgentBoardRole"]["Properties"])
    assert "ManagedPolicyArns" not in role and "PermissionsBoundary" not in role
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "lambda.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    # No other policy attaches to the role.
    for lid, resource in template["Resources"].items():
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"):
            assert "AgentBoardRole" not in json.dumps(resource), lid

    granted = set()
    for policy in role["Policies"]:
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            assert not {"NotAction", "NotResource"} & set(statement)
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            granted |= {(a, r) for a in actions for r in resources}
    log_streams = "arn:aws:logs:us-east-1:123456789012:log-group:ref:AgentBoardLogGroup:log-stream:*"
    assert granted == {
        ("logs:CreateLogStream", log_streams),
        ("logs:PutLogEvents", log_streams),
        ("dynamodb:Query", "arn:AgentStateTable"),
        ("dynamodb:Query", "arn:AgentStateTable/index/*"),
        ("kms:Decrypt", key),
    }


def test_the_function_has_its_own_log_group_and_binary(template: dict) -> None:
    resource = template["Resources"]["AgentBoardFunction"]
    assert resource["Type"] == "AWS::Serverless::Function"
    assert resource["Metadata"] == {"BuildMethod": "rust-cargolambda", "BuildProperties": {"Binary": "agent-board"}}
    assert resource["Properties"]["CodeUri"] == "."
    assert resource["Properties"]["LoggingConfig"] == {"LogGroup": {"Ref": "AgentBoardLogGroup"}}
    group = Stack(template, {}).value(template["Resources"]["AgentBoardLogGroup"]["Properties"])
    assert group["LogGroupName"] == "/aws/lambda/stack/agent-board"


# ------------------------------------------------------------------------------------------ the function's settings


@pytest.mark.parametrize("thresholds", [None, '{"Lunch":{"amber_minutes":45,"red_minutes":60}}'])
def test_the_functions_environment_carries_the_table_and_the_thresholds(template: dict, thresholds: str | None) -> None:
    instance = "arn:aws:connect:us-east-1:123456789012:instance/11111111-2222-3333-4444-555555555555"
    params = {"ConnectInstanceArn": instance} | ({"BoardThresholds": thresholds} if thresholds else {})
    stack = Stack(template, params)
    env = function_env(stack)
    assert env["AGENT_STATE_TABLE"] == "ref:AgentStateTable"
    assert env["BOARD_THRESHOLDS"] == stack.params["BoardThresholds"]
    assert env["CONNECT_INSTANCE_ARN"] == instance
    assert env["BOARD_CACHE_MS"] == "2000"
    if thresholds is None:
        default = json.loads(env["BOARD_THRESHOLDS"])
        assert default == {"Break": {"amber_minutes": 15, "red_minutes": 30},
                           "AFTER_CONTACT_WORK": {"amber_minutes": 2, "red_minutes": 5}}
    else:
        assert env["BOARD_THRESHOLDS"] == thresholds


# ------------------------------------------------------------------------------------------ the user pool


@pytest.mark.parametrize("extra", ["", "https://board.example.com/", "https://board.example.com/,https://tv.example.com/"])
def test_the_clients_callback_and_logout_urls_are_the_board_url(template: dict, extra: str) -> None:
    stack = Stack(template, {"BoardCallbackUrls": extra} if extra else {})
    (client,) = of_type(stack, "AWS::Cognito::UserPoolClient").values()
    expected = [BOARD_URL] + [u for u in extra.split(",") if u]
    assert output(stack, "BoardUrl") == BOARD_URL
    assert client["CallbackURLs"] == expected
    assert client["LogoutURLs"] == expected


def test_the_client_is_public_and_uses_the_authorization_code_flow_only(template: dict) -> None:
    stack = Stack(template, {})
    (client,) = of_type(stack, "AWS::Cognito::UserPoolClient").values()
    assert client["UserPoolId"] == "ref:BoardUserPool"
    assert client.get("GenerateSecret", False) is False
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert client["AllowedOAuthFlows"] == ["code"]
    assert set(client["AllowedOAuthScopes"]) == {"openid", "email", "profile"}
    assert client["SupportedIdentityProviders"] == ["COGNITO"]
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    assert client["EnableTokenRevocation"] is True
    assert not {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_CUSTOM_AUTH",
                "USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"} & set(client["ExplicitAuthFlows"])


def test_only_administrators_create_users_with_strong_passwords_and_optional_mfa(template: dict) -> None:
    stack = Stack(template, {})
    (pool,) = of_type(stack, "AWS::Cognito::UserPool").values()
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    password = pool["Policies"]["PasswordPolicy"]
    assert password["MinimumLength"] >= 12
    assert all(password[k] is True for k in ("RequireLowercase", "RequireUppercase", "RequireNumbers", "RequireSymbols"))
    assert pool["MfaConfiguration"] in ("OPTIONAL", "ON")
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]


def test_the_sign_in_domain_prefix_is_the_stacks_uuid(template: dict) -> None:
    stack = Stack(template, {})
    (domain,) = of_type(stack, "AWS::Cognito::UserPoolDomain").values()
    uuid = PSEUDO["AWS::StackId"].rsplit("/", 1)[1]
    assert domain["UserPoolId"] == "ref:BoardUserPool"
    assert domain["Domain"].endswith(uuid)
    # Cognito: lowercase letters, digits and hyphens, at most 63, and none of its reserved words.
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", domain["Domain"])
    assert not [w for w in ("aws", "amazon", "cognito") if w in domain["Domain"]]
    assert output(stack, "BoardSignInDomain") == "https://ref:BoardUserPoolDomain.auth.us-east-1.amazoncognito.com"


def test_the_outputs_name_the_board_and_its_api(template: dict) -> None:
    stack = Stack(template, {})
    assert output(stack, "BoardUrl") == BOARD_URL
    assert output(stack, "BoardApiId") == "ref:AgentBoardApi"
    assert output(stack, "BoardUserPoolClientId") == "ref:BoardUserPoolClient"
