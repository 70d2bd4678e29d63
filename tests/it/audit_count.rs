//! Every command that touches data or releases a secret goes through the gate, and the gate
//! leaves exactly one audit record: this runs each one against the real peers and counts lines.

use crate::fixtures::stack;
use crate::require;

#[test]
fn every_data_or_secret_command_leaves_exactly_one_record() {
    let (oidc, _peer, env) = require!(stack("bob"), crate::harness::STACK);
    let tokens = crate::fixtures::stored_tokens(&env, &oidc.issuer);
    let before = env.audit().len();
    let doc = r#"{"id": "o900", "tenant_id": "t1", "total": 5}"#;
    let steps: [(&[&str], &str, &str, &str); 12] = [
        (&["ls", "databases"], "", "ls", "allowed"),
        (&["ls", "containers"], "", "ls", "allowed"),
        (
            &["query", "-c", "orders", "SELECT c.id FROM c"],
            "",
            "query",
            "allowed",
        ),
        (
            &[
                "item",
                "get",
                "-c",
                "orders",
                "--partition-key",
                "\"t1\"",
                "o001",
            ],
            "",
            "item.read",
            "allowed",
        ),
        (
            &[
                "item",
                "upsert",
                "-c",
                "orders",
                "--partition-key",
                "\"t1\"",
                "--yes",
                "o900",
            ],
            doc,
            "item.upsert",
            "allowed",
        ),
        (
            &[
                "item",
                "delete",
                "-c",
                "orders",
                "--partition-key",
                "\"t1\"",
                "--yes",
                "o900",
            ],
            "",
            "item.delete",
            "allowed",
        ),
        (
            &[
                "item",
                "get",
                "--database",
                "hr",
                "-c",
                "salaries",
                "--partition-key",
                "1",
                "s1",
            ],
            "",
            "item.read",
            "denied",
        ),
        (&["token"], "", "export", "allowed"),
        (&["exec", "--", "true"], "", "export", "allowed"),
        (
            &["account-key", "set"],
            crate::cosmos_peer::EMULATOR_KEY,
            "account_key.set",
            "ok",
        ),
        (&["account-key", "remove"], "", "account_key.remove", "ok"),
        (&["logout"], "", "logout", "ok"),
    ];
    for (i, (args, stdin, action, decision)) in steps.iter().enumerate() {
        let run = env.run_stdin(args, stdin);
        let records = env.audit();
        assert_eq!(
            records.len(),
            before + i + 1,
            "`cosmoscope {}` (exit {}) left {} records:\n{}",
            args.join(" "),
            run.code,
            records.len() - (before + i),
            run.stderr
        );
        let last = records.last().expect("a record");
        assert_eq!(
            (last["action"].as_str(), last["decision"].as_str()),
            (Some(*action), Some(*decision)),
            "`cosmoscope {}`: {last}\n{}",
            args.join(" "),
            run.stderr
        );
        assert_eq!(last["subject"], "bob", "{last}");
    }
    // The records name who did what, never with what: no token and no account key in them.
    let log = std::fs::read_to_string(env.state_dir().join("audit.jsonl")).expect("audit log");
    for secret in tokens
        .iter()
        .chain([&crate::cosmos_peer::EMULATOR_KEY.to_string()])
    {
        assert!(!log.contains(secret.as_str()), "a secret in the audit log");
    }
    // Reading public facts is not audited.
    env.run(&["status"]);
    env.run(&["policy", "explain", "SELECT * FROM c"]);
    assert_eq!(env.audit().len(), before + steps.len());
}
