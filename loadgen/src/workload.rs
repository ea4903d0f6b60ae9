//! What to send: one named workload, a `--ratio` mix of them, or a `--command` template.
//!
//! A [`Workload`] is a list of templates with integer weights. Each worker turns it
//! into a [`RequestSource`] that picks a template per request (weighted, at random)
//! and encodes it; results are kept per template, under the template's label.

use crate::limits::{KEYS_PER_COMMAND_MAX, MIX_ENTRIES_MAX};
use crate::template::{Expander, Template};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::fmt::Write;

/// Names accepted by `-t/--workload` and `--ratio`.
pub const WORKLOAD_NAMES: &[&str] = &["get", "set", "incr", "lpush", "hset", "mget", "mset"];

#[derive(Clone, Debug)]
pub struct Workload {
    templates: Vec<Template>,
    /// Running sum of the weights, for picking by one uniform draw.
    cumulative_weights: Vec<u64>,
}

impl Workload {
    pub fn single(template: Template) -> Workload {
        Workload {
            templates: vec![template],
            cumulative_weights: vec![1],
        }
    }

    /// One of [`WORKLOAD_NAMES`]; `keys_per_command` sizes `mget` and `mset`.
    pub fn named(name: &str, keys_per_command: usize) -> Result<Workload, String> {
        Ok(Workload::single(builtin(name, keys_per_command)?))
    }

    /// A mix such as `set:1,get:9`.
    pub fn ratio(spec: &str, keys_per_command: usize) -> Result<Workload, String> {
        let mut templates: Vec<Template> = Vec::new();
        let mut cumulative_weights = Vec::new();
        let mut total = 0u64;
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, weight) = entry
                .split_once(':')
                .ok_or_else(|| format!("ratio entry '{entry}' is not NAME:WEIGHT"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("ratio weight '{weight}' is not a whole number"))?;
            let template = builtin(name.trim(), keys_per_command)?;
            if templates.iter().any(|t| t.label() == template.label()) {
                return Err(format!("ratio names '{name}' twice"));
            }
            if weight == 0 {
                continue;
            }
            total += u64::from(weight);
            templates.push(template);
            cumulative_weights.push(total);
        }
        if templates.is_empty() {
            return Err(format!(
                "ratio '{spec}' has no entry with a positive weight"
            ));
        }
        if templates.len() > MIX_ENTRIES_MAX {
            return Err(format!("ratio has more than {MIX_ENTRIES_MAX} entries"));
        }
        Ok(Workload {
            templates,
            cumulative_weights,
        })
    }

    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    /// Human-readable summary, e.g. `SET:1,GET:9`.
    pub fn describe(&self) -> String {
        let mut text = String::new();
        let mut previous = 0;
        for (template, &cumulative) in self.templates.iter().zip(&self.cumulative_weights) {
            let separator = if text.is_empty() { "" } else { "," };
            let _ = write!(
                text,
                "{separator}{}:{}",
                template.label(),
                cumulative - previous
            );
            previous = cumulative;
        }
        text
    }

    fn pick(&self, rng: &mut SmallRng) -> usize {
        if self.templates.len() == 1 {
            return 0;
        }
        let total = *self
            .cumulative_weights
            .last()
            .expect("workload is never empty");
        let draw = rng.gen_range(0..total);
        self.cumulative_weights.partition_point(|&c| c <= draw)
    }
}

fn builtin(name: &str, keys_per_command: usize) -> Result<Template, String> {
    assert!((1..=KEYS_PER_COMMAND_MAX).contains(&keys_per_command));
    let text = match name.to_ascii_lowercase().as_str() {
        "get" => "GET __key__".to_string(),
        "set" => "SET __key__ __value__".to_string(),
        "incr" => "INCR __key__".to_string(),
        "lpush" => "LPUSH __key__ __value__".to_string(),
        "hset" => "HSET __key__ field __value__".to_string(),
        "mget" => multi_key("MGET", keys_per_command, ""),
        "mset" => multi_key("MSET", keys_per_command, " __value__"),
        _ => {
            let names = WORKLOAD_NAMES.join(", ");
            return Err(format!("unknown workload '{name}' (known: {names})"));
        }
    };
    Ok(Template::parse(&text).expect("built-in templates are valid"))
}

fn multi_key(command: &str, keys: usize, after_each_key: &str) -> String {
    let mut text = command.to_string();
    for slot in 0..keys {
        let _ = write!(text, " __key{slot}__{after_each_key}");
    }
    text
}

/// A worker's request generator: picks a template per request and encodes it.
pub struct RequestSource<'w> {
    workload: &'w Workload,
    expander: Expander,
    rng: SmallRng,
}

impl<'w> RequestSource<'w> {
    pub fn new(workload: &'w Workload, expander: Expander, seed: u64) -> Self {
        RequestSource {
            workload,
            expander,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    /// Appends the next request to `out`; returns the index of its template.
    pub fn next_request(&mut self, out: &mut Vec<u8>) -> usize {
        let index = self.workload.pick(&mut self.rng);
        self.workload.templates[index].encode(&mut self.expander, out);
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Distribution, KeyGen};
    use crate::value::ValueGen;

    fn source(workload: &Workload) -> RequestSource<'_> {
        let keys = KeyGen::new(Distribution::Uniform, 100, 0..0, 1);
        let values = ValueGen::new("4".parse().unwrap(), 1);
        RequestSource::new(workload, Expander::new(keys, values, b"k"), 1)
    }

    #[test]
    fn every_named_workload_builds() {
        for name in WORKLOAD_NAMES {
            let workload = Workload::named(name, 3).unwrap();
            assert_eq!(workload.templates()[0].label(), name.to_ascii_uppercase());
        }
        assert!(Workload::named("nope", 1).is_err());
    }

    #[test]
    fn multi_key_workloads_carry_k_distinct_slots() {
        let mset = Workload::named("mset", 3).unwrap();
        assert_eq!(mset.templates()[0].args().len(), 1 + 2 * 3);
        let mget = Workload::named("mget", 4).unwrap();
        assert_eq!(mget.templates()[0].args().len(), 1 + 4);
        let mut out = Vec::new();
        source(&mget).next_request(&mut out);
        assert!(out.starts_with(b"*5\r\n$4\r\nMGET\r\n"));
    }

    #[test]
    fn ratio_picks_in_proportion() {
        let workload = Workload::ratio("set:1, get:9", 1).unwrap();
        assert_eq!(workload.describe(), "SET:1,GET:9");
        let mut src = source(&workload);
        let mut counts = [0usize; 2];
        let mut out = Vec::new();
        for _ in 0..100_000 {
            counts[src.next_request(&mut out)] += 1;
            out.clear();
        }
        let set_share = counts[0] as f64 / 100_000.0;
        assert!((set_share - 0.1).abs() < 0.01, "SET share {set_share}");
    }

    #[test]
    fn ratio_rejects_bad_specs() {
        for spec in ["", "set", "set:x", "set:0", "set:1,set:2", "bogus:1"] {
            assert!(Workload::ratio(spec, 1).is_err(), "{spec}");
        }
    }
}
