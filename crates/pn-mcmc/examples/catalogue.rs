//! Runs a catalogue model and prints the summary: `cargo run --release -p pn-mcmc --example catalogue -- banana nuts`.
use pn_mcmc::{
    EnsembleOptions, HmcOptions, NutsOptions, RunOptions, RwmOptions, Sampler, SliceOptions,
    models, sample,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let name = args.get(1).map(String::as_str).unwrap_or("corr10");
    let s = args.get(2).map(String::as_str).unwrap_or("nuts");
    let seed: u64 = args.get(3).and_then(|v| v.parse().ok()).unwrap_or(1);
    let m = models::model(name).unwrap();
    let sampler = match s {
        "nuts" => Sampler::Nuts(NutsOptions::default()),
        "nuts95" => Sampler::Nuts(NutsOptions::default().target_accept(0.95)),
        "dense95" => Sampler::Nuts(
            NutsOptions::default()
                .target_accept(0.95)
                .metric(pn_mcmc::MetricKind::Dense),
        ),
        "dense" => Sampler::Nuts(NutsOptions::default().metric(pn_mcmc::MetricKind::Dense)),
        "hmc" => Sampler::Hmc(HmcOptions::default()),
        "rwm" => Sampler::Rwm(RwmOptions::default()),
        "slice" => Sampler::Slice(SliceOptions::default()),
        _ => Sampler::Ensemble(EnsembleOptions::default()),
    };
    let t = std::time::Instant::now();
    let fit = sample(&m.target, &sampler, &RunOptions::default().seed(seed)).unwrap();
    let el = t.elapsed();
    let rep = m.report(&fit).unwrap();
    let s = rep.summary();
    let rows = s.rows.len();
    let mut s2 = s.clone();
    if rows > 12 {
        s2.rows.truncate(12);
    }
    println!("{} {:?}\n{s2}", m.description, el);
    if let Some(t) = &m.truth {
        for (i, r) in s.rows.iter().enumerate().take(12) {
            println!(
                "{}: mean {:.3} (truth {:.3}, z {:.2}); sd {:.3} (truth {:.3}, rel {:.3})",
                r.name,
                r.mean,
                t.mean[i],
                (r.mean - t.mean[i]) / r.mcse_mean,
                r.sd,
                t.sd[i],
                r.sd / t.sd[i] - 1.0
            );
        }
    }
}
