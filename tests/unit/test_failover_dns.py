"""FailoverDns invariants: the failover pair, the checks, the us-east-1 alarms."""

from __future__ import annotations

import json

from tests.unit.conftest import AUTHENTIK, run_stack

CHECK = "aws:route53/healthCheck:HealthCheck"


def failover_records(run):
    return {
        r.inputs["failoverRoutingPolicies"][0]["type"]: r
        for r in run.recorder.of_type("aws:route53/record:Record")
        if r.inputs.get("failoverRoutingPolicies")
    }


def test_failover_pair_on_the_public_hostname_with_ttl_at_most_60(default_run):
    records = failover_records(default_run)
    assert set(records) == {"PRIMARY", "SECONDARY"}
    for role, record in records.items():
        assert record.inputs["name"] == "sso.example.com", role
        assert record.inputs["ttl"] <= 60, role
        assert record.inputs["zoneId"] == "Z0123456789ABCDEFGHIJ"
    assert records["PRIMARY"].inputs["setIdentifier"] != records["SECONDARY"].inputs["setIdentifier"]


def test_records_point_at_each_sites_load_balancer(default_run):
    records = failover_records(default_run)
    primary_lb = default_run.recorder.by_name("sso-primary-site-public-ingress").outputs["status"]
    dr_lb = default_run.recorder.by_name("sso-dr-site-public-ingress").outputs["status"]
    assert records["PRIMARY"].inputs["records"] == [primary_lb["loadBalancer"]["ingress"][0]["hostname"]]
    assert records["SECONDARY"].inputs["records"] == [dr_lb["loadBalancer"]["ingress"][0]["hostname"]]


def test_readiness_checks_are_https_with_sni_on_each_health_hostname(default_run):
    checks = {c.name: c.inputs for c in default_run.recorder.of_type(CHECK)}
    for site, host in (("primary", "health-primary.sso.example.com"), ("dr", "health-dr.sso.example.com")):
        check = checks[f"sso-dns-{site}-readiness"]
        assert (check["type"], check["fqdn"], check["port"], check["resourcePath"]) == (
            "HTTPS",
            host,
            443,
            "/health/ready",
        )
        assert check["enableSni"] is True
        assert (check["requestInterval"], check["failureThreshold"]) == (30, 3)


def test_primary_readiness_path_belongs_to_failover_and_failback(default_run):
    # failover points it at failedOverPath (sticky), failback restores it: `pulumi up` must not.
    rec = default_run.recorder
    assert rec.by_name("sso-dns-primary-readiness").ignore_changes == ["resourcePath"]
    assert rec.by_name("sso-dns-dr-readiness").ignore_changes == []


def test_interval_and_threshold_come_from_config():
    run = run_stack({"idp-dr:dns": {"healthCheck": {"requestInterval": 10, "failureThreshold": 2}}})
    check = run.recorder.by_name("sso-dns-primary-readiness").inputs
    assert (check["requestInterval"], check["failureThreshold"]) == (10, 2)


def test_issuer_check_matches_the_exact_production_issuer(default_run):
    check = default_run.recorder.by_name("sso-dns-primary-issuer").inputs
    assert check["type"] == "HTTPS_STR_MATCH"
    assert check["resourcePath"] == "/realms/company/.well-known/openid-configuration"
    # Quoted: "https://sso.example.com/realms/company-test" would not match.
    assert check["searchString"] == json.dumps("https://sso.example.com/realms/company")


def test_authentik_checks_use_its_paths_and_issuer():
    run = run_stack(AUTHENTIK)
    assert run.recorder.by_name("sso-dns-dr-readiness").inputs["resourcePath"] == "/-/health/ready/"
    issuer = run.recorder.by_name("sso-dns-dr-issuer").inputs
    assert issuer["resourcePath"] == "/application/o/portal/.well-known/openid-configuration"
    assert issuer["searchString"] == '"https://sso.example.com/application/o/portal/"'


def test_primary_record_uses_the_calculated_readiness_and_issuer_check(default_run):
    rec = default_run.recorder
    combined = rec.by_name("sso-dns-primary-combined")
    assert combined.inputs["type"] == "CALCULATED"
    assert combined.inputs["childHealthThreshold"] == 2
    assert set(combined.inputs["childHealthchecks"]) == {
        rec.by_name("sso-dns-primary-readiness").id,
        rec.by_name("sso-dns-primary-issuer").id,
    }
    assert failover_records(default_run)["PRIMARY"].inputs["healthCheckId"] == combined.id
    assert default_run.outputs["dns"]["primaryRecordHealthCheckId"] == combined.id


def test_secondary_record_has_no_health_check_so_a_pilot_light_never_fails_back(default_run):
    assert "healthCheckId" not in failover_records(default_run)["SECONDARY"].inputs
    assert default_run.outputs["dns"]["secondaryRecordHealthCheckId"] is None


def test_secondary_record_health_check_is_opt_in():
    run = run_stack({"idp-dr:dns": {"secondaryRecordHealthCheck": True}, "idp-dr:standby": {"drReplicas": 1}})
    secondary = failover_records(run)["SECONDARY"]
    assert secondary.inputs["healthCheckId"] == run.outputs["dns"]["secondaryRecordHealthCheckId"]


def test_without_issuer_check_the_record_uses_readiness_directly():
    run = run_stack({"idp-dr:dns": {"healthCheck": {"issuerCheck": False}}})
    assert [c.name for c in run.recorder.of_type(CHECK)] == ["sso-dns-primary-readiness", "sso-dns-dr-readiness"]
    assert run.outputs["dns"]["primaryRecordHealthCheckId"] == run.outputs["dns"]["primaryHealthCheckId"]


def test_health_alarm_lives_in_us_east_1_and_notifies_sns(default_run):
    alarm = default_run.recorder.by_name("sso-dns-primary-unhealthy")
    assert (alarm.provider_name, alarm.region) == ("aws-us-east-1", "us-east-1")
    assert (alarm.inputs["namespace"], alarm.inputs["metricName"]) == ("AWS/Route53", "HealthCheckStatus")
    assert alarm.inputs["comparisonOperator"] == "LessThanThreshold" and alarm.inputs["threshold"] == 1
    topic = default_run.recorder.by_name("sso-alarms-global")
    assert topic.region == "us-east-1"
    assert alarm.inputs["alarmActions"] == [topic.outputs["arn"]]


def alarm_names(run) -> set[str]:
    return {a.name for a in run.recorder.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}


def test_dr_readiness_alarm_only_for_a_warm_standby(default_run, warm_run):
    assert "sso-dns-dr-unhealthy" not in alarm_names(default_run)
    assert "sso-dns-dr-unhealthy" in alarm_names(warm_run)


def test_detection_plus_ttl_stays_within_the_rto_target(default_run):
    check = default_run.recorder.by_name("sso-dns-primary-readiness").inputs
    ttl = failover_records(default_run)["PRIMARY"].inputs["ttl"]
    worst_case = check["requestInterval"] * check["failureThreshold"] + ttl
    assert worst_case <= default_run.outputs["rtoTargetSeconds"]
    assert default_run.outputs["dns"]["detectionSeconds"] == check["requestInterval"] * check["failureThreshold"]
