//! Bad option values are usage errors (exit 2) that name the option, never a
//! panic (exit 101): every option of `rivulet demo` and `rivulet watch` that
//! takes a number goes through `rivulet_cli::args`.

use std::process::Command;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_rivulet"))
        .args(args)
        .output()
        .expect("the rivulet binary starts");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn out_of_range_numbers_are_usage_errors_naming_the_option() {
    let cases: &[(&[&str], &str)] = &[
        (&["demo", "--grace=-1"], "--grace"),
        (&["demo", "--grace", "nan"], "--grace"),
        (&["demo", "--grace", "1e30"], "--grace"),
        (&["demo", "--header-timeout", "inf"], "--header-timeout"),
        (&["demo", "--header-timeout", "0"], "--header-timeout"),
        (&["demo", "--max-duration", "1e30"], "--max-duration"),
        (&["demo", "--max-duration=-0.5"], "--max-duration"),
        (&["demo", "--max-streams", "0"], "--max-streams"),
        (
            &["demo", "--max-streams", "18446744073709551615"],
            "--max-streams",
        ),
        (
            &["watch", "--timeout", "1e30", "http://127.0.0.1:9/"],
            "--timeout",
        ),
    ];
    for (args, option) in cases {
        let (code, stderr) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(option), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
