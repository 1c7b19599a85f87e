//! The host is not a neighbour: learners' networks must not reach the host's own ports
//! (berth itself, sshd, a database listening on all interfaces) through their bridge's
//! gateway address. Docker's rules only cover forwarded traffic; traffic to the host arrives
//! on INPUT, which berth closes for every interface it names `bth…` (see
//! [`crate::engine::names::interface`]), keeping only answers to connections the host opened
//! (berth's port proxy reaches containers that way).
//!
//! Rules live in a chain of this berth instance, installed at start and removed at stop; a
//! crashed run's chain is flushed and reused by the next.

use std::process::Command;

use crate::engine::names::INTERFACE_PREFIX;

pub struct HostFirewall {
    chain: String,
    tools: Vec<&'static str>,
}

fn run(tool: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(tool)
        .arg("-w")
        .args(args)
        .output()
        .map_err(|e| format!("{tool}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{tool} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

impl HostFirewall {
    /// Installs the rules (IPv4 required, IPv6 where the host has it).
    pub fn install(instance: &str) -> Result<HostFirewall, String> {
        let chain = format!("BERTH-{}", &instance[..instance.len().min(12)]);
        let interfaces = format!("{INTERFACE_PREFIX}+");
        let mut tools = Vec::new();
        for tool in ["iptables", "ip6tables"] {
            let installed = (|| {
                if run(tool, &["-N", &chain]).is_err() {
                    run(tool, &["-F", &chain])?;
                }
                run(
                    tool,
                    &[
                        "-A",
                        &chain,
                        "-m",
                        "conntrack",
                        "--ctstate",
                        "ESTABLISHED,RELATED",
                        "-j",
                        "RETURN",
                    ],
                )?;
                run(
                    tool,
                    &[
                        "-A",
                        &chain,
                        "-p",
                        "tcp",
                        "-j",
                        "REJECT",
                        "--reject-with",
                        "tcp-reset",
                    ],
                )?;
                run(tool, &["-A", &chain, "-j", "DROP"])?;
                if run(tool, &["-C", "INPUT", "-i", &interfaces, "-j", &chain]).is_err() {
                    run(tool, &["-I", "INPUT", "1", "-i", &interfaces, "-j", &chain])?;
                }
                Ok::<(), String>(())
            })();
            match (tool, installed) {
                (_, Ok(())) => tools.push(tool),
                ("iptables", Err(error)) => return Err(error),
                (_, Err(error)) => tracing::debug!(%error, "no IPv6 firewall rules"),
            }
        }
        tracing::info!(
            chain,
            "host firewall: learners' networks cannot reach the host's ports"
        );
        Ok(HostFirewall { chain, tools })
    }

    /// Takes the rules out again.
    pub fn remove(&self) {
        let interfaces = format!("{INTERFACE_PREFIX}+");
        for tool in &self.tools {
            while run(tool, &["-D", "INPUT", "-i", &interfaces, "-j", &self.chain]).is_ok() {}
            let _ = run(tool, &["-F", &self.chain]);
            let _ = run(tool, &["-X", &self.chain]);
        }
    }
}
