"""``restore rds``: every bad input is refused with its exact message, a non-zero exit and no
mutating AWS call (the recorder sees every call the command makes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.stub import Stubber

from scripts.aws.client import Aws
from scripts.cli import main
from scripts.polling import FakeClock
from scripts.timeutil import iso
from tests.scripts.shapes import BACKUPS_ARN, DR_KMS, automated_backup, instance, not_found, t
from tests.scripts.world import error, invoke

IDENTIFIER_RULE = (
    "a DB instance identifier: 1-63 characters: lowercase letters, digits and hyphens, starting "
    "with a letter, no trailing hyphen and no '--'"
)


def restore(*extra: str) -> list[str]:
    return ["restore", "rds", "--source", "sso-db", *extra]


# -- refused before any AWS call ----------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "message", "hint"),
    [
        (
            "yesterday",
            "invalid --time 'yesterday': expected an ISO-8601 time with a timezone, e.g. 2026-11-23T10:15:00Z",
            None,
        ),
        (
            "2026-11-23T10:15:00",
            "invalid --time '2026-11-23T10:15:00': expected an ISO-8601 time with a timezone, e.g. "
            "2026-11-23T10:15:00Z",
            "add a timezone: '2026-11-23T10:15:00Z' for UTC, or an offset such as '2026-11-23T10:15:00+02:00'",
        ),
        (
            "2026-02-30T10:15:00Z",
            "invalid --time '2026-02-30T10:15:00Z': not a real calendar time (day is out of range "
            "for month); e.g. 2026-11-23T10:15:00Z",
            None,
        ),
    ],
)
def test_malformed_or_zoneless_time_is_refused_before_any_aws_call(moto_session, capsys, value, message, hint):
    _, recorder, _ = moto_session
    code = main(restore("--target", "pitr-1", "--time", value))
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: {message}\n" in err
    if hint:
        assert f"hint: {hint}\n" in err
    assert recorder.calls == []


@pytest.mark.parametrize(
    ("target", "hint"),
    [
        ("Prod-DB", "use lowercase: prod-db"),
        ("1restore", None),
        ("restore-", None),
        ("re--store", None),
        ("r" * 64, None),
    ],
)
def test_invalid_target_identifier_is_refused(moto_session, capsys, target, hint):
    _, recorder, _ = moto_session
    code = main(restore("--target", target, "--latest"))
    err = capsys.readouterr().err
    assert code == 2
    assert f"error: invalid --target '{target}': {IDENTIFIER_RULE}\n" in err
    assert (f"hint: {hint}\n" in err) if hint else ("hint:" not in err)
    assert recorder.calls == []


def test_target_equal_to_source_is_refused(moto_session, capsys):
    assert main(restore("--target", "sso-db", "--latest")) == 2
    assert (
        "error: invalid --target 'sso-db': a new DB instance identifier, different from --source\n"
        in capsys.readouterr().err
    )
    assert moto_session[1].calls == []


def test_drill_namespace_is_reserved_for_drills(moto_session, capsys):
    assert main(restore("--target", "idp-dr-drill-q4", "--latest")) == 2
    err = capsys.readouterr().err
    assert (
        "error: invalid --target 'idp-dr-drill-q4': a name outside the drill namespace 'idp-dr-drill-' "
        "(reserved for --drill)\n" in err
    )
    assert moto_session[1].calls == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--time", "2026-11-23T10:00:00Z", "--latest"],
            "argument --latest: not allowed with argument --time",
        ),
        ([], "one of the arguments --time --latest is required"),
    ],
)
def test_time_and_latest_are_mutually_exclusive_and_one_is_required(moto_session, capsys, argv, message):
    assert main(restore("--target", "pitr-1", *argv)) == 2
    assert f"error: {message}\n" in capsys.readouterr().err
    assert moto_session[1].calls == []


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--poll-interval", "0.5", "invalid --poll-interval 0.5: seconds between polls, from 1 to 60"),
        ("--poll-interval", "61", "invalid --poll-interval 61.0: seconds between polls, from 1 to 60"),
        ("--timeout", "0", "invalid --timeout 0.0: minutes from 1 to 1440"),
    ],
)
def test_wait_bounds_are_validated(moto_session, capsys, flag, value, message):
    assert main(restore("--target", "pitr-1", "--latest", flag, value)) == 2
    assert f"error: {message}\n" in capsys.readouterr().err
    assert moto_session[1].calls == []


@pytest.mark.parametrize(
    ("arn", "message"),
    [
        (
            "arn:aws:rds:eu-central-1:123456789012:db:sso-db",
            "invalid --from-replicated-backups 'arn:aws:rds:eu-central-1:123456789012:db:sso-db': the ARN "
            "of replicated "
            "automated backups, arn:aws:rds:<dr-region>:<account>:auto-backup:ab-<id>",
        ),
    ],
)
def test_malformed_backups_arn_is_refused(moto_session, capsys, arn, message):
    assert main(restore("--target", "pitr-1", "--latest", "--from-replicated-backups", arn)) == 2
    assert f"error: {message}\n" in capsys.readouterr().err
    assert moto_session[1].calls == []


# -- refused after reading AWS (moto), before any mutating call ----------------------------------
def test_missing_source_names_the_instances_that_exist(world, capsys):
    assert main(["restore", "rds", "--source", "idp-prd-db", "--target", "pitr-1", "--latest"]) == 2
    err = capsys.readouterr().err
    assert "error: invalid --source 'idp-prd-db': an existing DB instance in eu-west-1\n" in err
    assert "hint: DB instances in eu-west-1: sso-db\n" in err
    assert world.recorder.mutating() == []


def test_source_without_automated_backups_is_refused(world, capsys):
    world.client("rds").create_db_instance(
        DBInstanceIdentifier="no-backups",
        DBInstanceClass="db.t4g.micro",
        Engine="postgres",
        MasterUsername="a",
        MasterUserPassword="b" * 12,
        AllocatedStorage=20,
        BackupRetentionPeriod=0,
    )
    assert main(["restore", "rds", "--source", "no-backups", "--target", "pitr-1", "--latest"]) == 2
    assert (
        "error: invalid --source 'no-backups': a DB instance with automated backups (BackupRetentionPeriod "
        "> 0); "
        "point-in-time restore is impossible without them\n" in capsys.readouterr().err
    )
    assert world.recorder.mutating() == []


def test_target_taken_by_an_instance_idp_dr_did_not_create_is_refused(world, capsys):
    world.client("rds").create_db_instance(
        DBInstanceIdentifier="someone-elses",
        DBInstanceClass="db.t4g.micro",
        Engine="postgres",
        MasterUsername="a",
        MasterUserPassword="b" * 12,
        AllocatedStorage=20,
    )
    world.recorder.calls.clear()
    assert main(restore("--target", "someone-elses", "--latest")) == 2
    err = capsys.readouterr().err
    assert (
        "error: invalid --target 'someone-elses': a free DB instance identifier in eu-west-1; it is taken "
        "by an "
        "instance idp-dr did not create (status available)\n" in err
    )
    assert "hint: choose another --target, e.g. someone-elses-" in err
    assert world.recorder.mutating() == []


def test_conflicting_rerun_is_refused(world, capsys):
    assert main(restore("--target", "pitr-a", "--latest")) == 0
    created = world.client("rds").describe_db_instances(DBInstanceIdentifier="sso-db")["DBInstances"][0]
    other_time = iso(created["InstanceCreateTime"] + timedelta(milliseconds=1))
    capsys.readouterr()
    world.recorder.calls.clear()
    assert main(restore("--target", "pitr-a", "--time", other_time)) == 3
    err = capsys.readouterr().err
    assert (
        "error: conflicting re-run: pitr-a was created by idp-dr restoring sso-db to latest "
        "(restore), not "
        f"sso-db to {other_time} (restore)\n" in err
    )
    assert "hint: re-run with the original --source/--time to resume it, or choose another --target\n" in err
    assert world.recorder.mutating() == []


def test_access_denied_names_the_missing_iam_action(world, capsys):
    world.faults.add(
        "DescribeDBInstances",
        lambda p: error(
            "AccessDenied",
            "User: arn:aws:iam::123456789012:user/oncall is not authorized to perform: rds:DescribeDBInstances",
            403,
        ),
    )
    assert main(restore("--target", "pitr-1", "--latest")) == 5
    err = capsys.readouterr().err
    assert (
        "error: missing IAM permission rds:DescribeDBInstances in eu-west-1: User: "
        "arn:aws:iam::123456789012:user/oncall is not authorized to perform: rds:DescribeDBInstances\n" in err
    )
    assert "hint: grant rds:DescribeDBInstances to the role running this command" in err
    assert world.recorder.mutating() == []


def test_iam_simulation_refuses_a_missing_restore_permission_before_any_change(world):
    """moto has no iam:SimulatePrincipalPolicy: the IAM client is Stubbed with an AWS-shaped answer."""
    aws = world.aws()
    principal = world.client("sts").get_caller_identity()["Arn"]
    actions = [
        "rds:DescribeDBInstances",
        "rds:DescribeDBInstanceAutomatedBackups",
        "rds:RestoreDBInstanceToPointInTime",
        "rds:AddTagsToResource",
        "rds:DescribeEvents",
    ]
    with Stubber(aws.client("iam", "eu-west-1")) as iam:
        iam.add_response(
            "simulate_principal_policy",
            {
                "EvaluationResults": [
                    {"EvalActionName": a, "EvalDecision": "implicitDeny" if "Restore" in a else "allowed"}
                    for a in actions
                ]
            },
            {"PolicySourceArn": principal, "ActionNames": actions},
        )
        result = invoke(restore("--target", "pitr-1", "--latest"), aws=aws, clock=world.clock)
    assert result.code == 5
    assert result.error_line == (
        f"missing IAM permission rds:RestoreDBInstanceToPointInTime for {principal}: IAM "
        "policy simulation says these are denied"
    )
    assert world.recorder.mutating() == []


def test_access_denied_on_the_restore_call_itself_names_the_action_and_creates_nothing(world, capsys):
    world.faults.add(
        "RestoreDBInstanceToPointInTime",
        lambda p: error("AccessDenied", "not authorized to perform: rds:RestoreDBInstanceToPointInTime", 403),
    )
    assert main(restore("--target", "pitr-1", "--latest")) == 5
    assert (
        "error: missing IAM permission rds:RestoreDBInstanceToPointInTime in eu-west-1: not authorized to "
        "perform: rds:RestoreDBInstanceToPointInTime\n" in capsys.readouterr().err
    )
    assert (
        world.client("rds").describe_db_instances(Filters=[{"Name": "db-instance-id", "Values": ["pitr-1"]}])[
            "DBInstances"
        ]
        == []
    )


# -- the restorable window (moto has no time semantics: Stubber with AWS-shaped responses) --------
NOW = "2026-11-23T10:14:00Z"
WINDOW = "2026-11-16T10:00:00Z .. 2026-11-23T10:10:00Z"


@pytest.fixture
def window_stub(moto_session):
    session, recorder, _ = moto_session
    clock = FakeClock(t(NOW))
    aws = Aws(session, sleep=clock.sleep)
    with Stubber(aws.client("rds", "eu-west-1")) as stub:
        stub.add_response(
            "describe_db_instances",
            {"DBInstances": [instance("sso-db")]},
            {"DBInstanceIdentifier": "sso-db"},
        )
        stub.add_response(
            "describe_db_instance_automated_backups",
            {"DBInstanceAutomatedBackups": [automated_backup()]},
            {"DBInstanceIdentifier": "sso-db"},
        )
        yield aws, clock, recorder
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("when", "message", "hint"),
    [
        (
            "2026-11-23T10:20:00Z",
            f"invalid --time '2026-11-23T10:20:00Z': not in the future: a time inside the restorable window {WINDOW}",
            "it is 2026-11-23T10:14:00Z now; the latest restorable time is 2026-11-23T10:10:00Z (use --latest for it)",
        ),
        (
            "2026-11-23T12:12:00+02:00",
            f"invalid --time '2026-11-23T12:12:00+02:00': a time inside the restorable window {WINDOW}",
            "the closest valid time is 2026-11-23T10:10:00Z (the latest restorable time; RDS uploads "
            "transaction logs every 5 minutes, so it trails now by up to ~5 min); or use --latest",
        ),
        (
            "2026-11-10T00:00:00Z",
            f"invalid --time '2026-11-10T00:00:00Z': a time inside the restorable window {WINDOW}",
            "the closest valid time is 2026-11-16T10:00:00Z (the earliest restorable time; older backups have expired)",
        ),
    ],
)
def test_time_outside_the_restorable_window_is_refused_with_the_closest_valid_time(window_stub, when, message, hint):
    aws, clock, recorder = window_stub
    result = invoke(restore("--target", "pitr-1", "--time", when), aws=aws, clock=clock)
    assert result.code == 2
    assert result.error_line == message
    assert result.hint_line == hint
    assert recorder.mutating() == []


# -- replicated backups in the DR region (moto cannot restore from them: Stubber) ---------------------
def test_backups_arn_from_another_account_is_refused(moto_session, capsys):
    arn = "arn:aws:rds:eu-central-1:999999999999:auto-backup:ab-abcdefghijklmnopqrstuvwxyz0"
    assert main(restore("--target", "pitr-1", "--latest", "--from-replicated-backups", arn)) == 2
    assert (
        f"error: invalid --from-replicated-backups '{arn}': replicated backups in this account "
        "(123456789012); the "
        "ARN names account 999999999999\n" in capsys.readouterr().err
    )
    assert moto_session[1].mutating() == []


def test_backups_arn_region_must_match_region(moto_session, capsys):
    assert (
        main(
            restore(
                "--target",
                "pitr-1",
                "--latest",
                "--from-replicated-backups",
                BACKUPS_ARN,
                "--region",
                "eu-west-1",
            )
        )
        == 2
    )
    err = capsys.readouterr().err
    assert (
        "error: invalid --region 'eu-west-1': the region of the replicated backups (eu-central-1); the restore "
        "runs "
        "where the backups are\n" in err
    )
    assert moto_session[1].calls == []


def test_dr_restore_without_dr_resources_is_refused_instead_of_defaulted(moto_session):
    session, recorder, _ = moto_session
    aws = Aws(session)
    with Stubber(aws.client("rds", "eu-central-1")) as stub:
        stub.add_response(
            "describe_db_instance_automated_backups",
            {"DBInstanceAutomatedBackups": [automated_backup(arn=BACKUPS_ARN, region="eu-central-1")]},
            {"DBInstanceAutomatedBackupsArn": BACKUPS_ARN},
        )
        stub.add_response("describe_db_instances", {"DBInstances": []}, {"DBInstanceIdentifier": "pitr-1"})
        result = invoke(
            restore("--target", "pitr-1", "--latest", "--from-replicated-backups", BACKUPS_ARN),
            aws=aws,
            clock=FakeClock(t(NOW)),
        )
    assert result.code == 2
    assert result.error_line == (
        "invalid --db-subnet-group None: a eu-central-1 value when restoring from replicated "
        "backups (the source's is in another region)"
    )
    assert result.hint_line == "pass --db-subnet-group, or --stack-outputs with the stack's DR outputs"
    assert recorder.mutating() == []


def test_missing_dr_subnet_group_is_refused(moto_session):
    session, recorder, _ = moto_session
    aws = Aws(session)
    with Stubber(aws.client("rds", "eu-central-1")) as stub:
        stub.add_response(
            "describe_db_instance_automated_backups",
            {"DBInstanceAutomatedBackups": [automated_backup(arn=BACKUPS_ARN, region="eu-central-1")]},
            {"DBInstanceAutomatedBackupsArn": BACKUPS_ARN},
        )
        stub.add_client_error("describe_db_instances", **not_found())
        stub.add_client_error("describe_db_subnet_groups", **not_found("DBSubnetGroupNotFoundFault", "missing-group"))
        result = invoke(
            restore(
                "--target",
                "pitr-1",
                "--latest",
                "--from-replicated-backups",
                BACKUPS_ARN,
                "--db-subnet-group",
                "missing-group",
                "--vpc-security-group-ids",
                "sg-1",
                "--db-parameter-group",
                "pg",
                "--master-secret-kms-key",
                DR_KMS,
            ),
            aws=aws,
            clock=FakeClock(t(NOW)),
        )
    assert result.code == 2
    assert result.error_line == (
        "invalid --db-subnet-group 'missing-group': an existing subnet group in eu-central-1 "
        "(DBSubnetGroupNotFoundFault)"
    )
    assert recorder.mutating() == []


def test_unknown_replicated_backups_are_refused(moto_session):
    session, recorder, _ = moto_session
    aws = Aws(session)
    with Stubber(aws.client("rds", "eu-central-1")) as stub:
        stub.add_response(
            "describe_db_instance_automated_backups",
            {"DBInstanceAutomatedBackups": []},
            {"DBInstanceAutomatedBackupsArn": BACKUPS_ARN},
        )
        result = invoke(
            restore("--target", "pitr-1", "--latest", "--from-replicated-backups", BACKUPS_ARN),
            aws=aws,
            clock=FakeClock(t(NOW)),
        )
    assert result.code == 2
    assert result.error_line == (
        f"invalid --from-replicated-backups '{BACKUPS_ARN}': replicated automated backups that exist in eu-central-1"
    )
    assert result.hint_line.startswith("is backup replication running?")
    assert recorder.mutating() == []


def test_stack_outputs_are_refused_for_an_in_region_restore(world, capsys):
    assert main(restore("--target", "pitr-1", "--latest", "--stack-outputs", str(world.outputs_path))) == 2
    err = capsys.readouterr().err
    assert (
        f"error: invalid --stack-outputs '{world.outputs_path}': only together with --from-replicated-backups\n" in err
    )
    assert world.recorder.calls == []
