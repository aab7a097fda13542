//! docs/testing.md's recipes, run as written: the pytest fixture and tests with pytest, the Node tests with
//! `node --test`, the GitHub Actions and GitLab CI jobs' steps with bash (their install step replaced by the
//! binary under test). A runtime that is missing skips its recipe with a line saying so (a failure under CI=true).

use std::collections::HashMap;
use std::path::Path;

use super::*;

/// The recipes of docs/testing.md: each `<!-- recipe: NAME -->` and the fenced block after it.
fn recipes() -> HashMap<String, String> {
    marked_blocks(include_str!("../../../../../docs/testing.md"), "recipe")
}

/// Each `<!-- {marker}: NAME -->` of a guide, and the fenced block after it.
pub(super) fn marked_blocks(text: &str, marker: &str) -> HashMap<String, String> {
    let opening = format!("<!-- {marker}:");
    let mut found = HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line
            .trim()
            .strip_prefix(opening.as_str())
            .and_then(|rest| rest.strip_suffix("-->"))
        else {
            continue;
        };
        let fence = lines.next().expect("a block after the recipe's name");
        assert!(fence.starts_with("```"), "{name}: {fence}");
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        found.insert(name.trim().to_string(), body.join("\n") + "\n");
    }
    found
}

/// Whether `program args` runs; if not, the recipe is skipped (failed under CI=true).
pub(super) fn runtime_present(program: &str, args: &[&str], recipe: &str) -> bool {
    let present = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{recipe}: `{program} {}` does not run here (.ci/run installs it)",
            args.join(" ")
        );
        eprintln!(
            "skipping the {recipe} recipe: `{program} {}` does not run here",
            args.join(" ")
        );
    }
    present
}

fn run_in(dir: &Path, program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("LOCALZOOM_BIN", BIN)
        .output()
        .unwrap()
}

#[test]
fn every_recipe_of_the_testing_guide_is_found() {
    let mut names: Vec<_> = recipes().into_keys().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "conftest.py",
            "github-actions.yml",
            "gitlab-ci.yml",
            "localzoom.test.mjs",
            "test_offboarding.py"
        ]
    );
}

#[test]
fn the_pytest_recipe_passes() {
    if !runtime_present("python3", &["-c", "import pytest"], "pytest") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let recipes = recipes();
    for name in ["conftest.py", "test_offboarding.py"] {
        std::fs::write(dir.path().join(name), &recipes[name]).unwrap();
    }
    let output = run_in(
        dir.path(),
        "python3",
        &["-m", "pytest", "-q", "-p", "no:cacheprovider"],
    );
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("3 passed"), "{text}");
}

#[test]
fn the_node_recipe_passes() {
    if !runtime_present(
        "node",
        &["-e", "if (typeof fetch !== 'function') process.exit(1)"],
        "Node.js",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("localzoom.test.mjs"),
        &recipes()["localzoom.test.mjs"],
    )
    .unwrap();
    let output = run_in(dir.path(), "node", &["--test", "localzoom.test.mjs"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("# pass 2") && text.contains("# fail 0"),
        "{text}"
    );
}

/// Runs `script` with bash (`-e`), `env` and the binary under test first on PATH; returns its output.
fn bash(script: &str, env: &[(String, String)]) -> std::process::Output {
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    Command::new("bash")
        .args(["-e", "-c", script])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("PATH", path)
        .env_remove("LOCALZOOM_DATABASE")
        .output()
        .unwrap()
}

fn yaml_env(map: &serde_yaml::Value) -> Vec<(String, String)> {
    map.as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().unwrap().to_string(),
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| serde_yaml::to_string(v).unwrap()),
            )
        })
        .collect()
}

/// The CI recipes' own values, with a free port and a temporary folder for this run.
fn ci_env(vars: &serde_yaml::Value, dir: &Path) -> Vec<(String, String)> {
    let mut env = yaml_env(vars);
    env.retain(|(k, _)| k != "LOCALZOOM_LISTEN");
    env.push((
        "LOCALZOOM_LISTEN".into(),
        format!("127.0.0.1:{}", free_port()),
    ));
    env.push(("RUNNER_TEMP".into(), dir.display().to_string()));
    env.push(("HOME".into(), dir.display().to_string()));
    env
}

#[track_caller]
fn succeeded(output: &std::process::Output, what: &str) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{what}: {text}");
    text
}

#[test]
fn the_github_actions_recipe_runs() {
    let workflow: serde_yaml::Value =
        serde_yaml::from_str(&recipes()["github-actions.yml"]).unwrap();
    let job = &workflow["jobs"]["test"];
    let dir = tempfile::tempdir().unwrap();
    let env = ci_env(&job["env"], dir.path());
    let mut ran = Vec::new();
    for step in job["steps"].as_sequence().unwrap() {
        let (Some(name), Some(script)) = (step["name"].as_str(), step["run"].as_str()) else {
            continue;
        };
        if script.contains("cargo install") {
            continue;
        }
        let output = succeeded(&bash(script, &env), name);
        ran.push((name.to_string(), output));
    }
    let names: Vec<_> = ran.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Start localzoom", "Test", "Calls made", "Stop localzoom"]
    );
    assert!(ran[2].1.contains("userStatus"), "{}", ran[2].1);
}

#[test]
fn the_gitlab_ci_recipe_runs() {
    let pipeline: serde_yaml::Value = serde_yaml::from_str(&recipes()["gitlab-ci.yml"]).unwrap();
    let job = &pipeline["zoom-automation"];
    let dir = tempfile::tempdir().unwrap();
    let env = ci_env(&job["variables"], dir.path());
    let lines = |key: &str| -> Vec<String> {
        job[key]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .filter(|l| !l.contains("cargo install"))
            .collect()
    };
    // GitLab runs before_script and script in one shell, after_script in another.
    let mut script = lines("before_script");
    script.extend(lines("script"));
    script.extend(lines("after_script"));
    // The background server ends with the job here: stop it when the shell does.
    let script = format!(
        "trap 'kill $(jobs -p) 2>/dev/null' EXIT\n{}",
        script.join("\n")
    );
    let output = succeeded(&bash(&script, &env), "script");
    assert!(
        output.contains("count") && output.contains("userStatus"),
        "{output}"
    );
}
