//! Per-customer predictions from fitted parameters: P(alive), expected
//! purchases, expected spend and discounted customer lifetime value.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, exec_err};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF};

use super::params::{ParamsArg, bgnbd_from, gamma_gamma_from};
use super::units::{Unit, parse_horizon};
use crate::args::{Arg, Numbers, Strings, float_result};
use crate::function::{SCORING, ScalarFn, doc};

const BGNBD: &[&str] = &["r", "alpha", "a", "b"];
const GAMMA_GAMMA: &[&str] = &["p", "q", "v"];

pub fn functions() -> Vec<ScalarUDF> {
    vec![
        ScalarFn::udf(
            "bgnbd_p_alive",
            &[Arg::Params, Arg::Number, Arg::Number, Arg::Number],
            4,
            DataType::Float64,
            p_alive,
            doc(
                SCORING,
                "Probability that a customer is still active at the end of the period, given \
                 frequency, recency and t in the fitted model's unit (BG/NBD eq. 13). 1 for a \
                 customer without repeat purchases, by the model's definition.",
                "bgnbd_p_alive(params, frequency, recency, t)",
                &[
                    ("params", "The struct returned by bgnbd_fit."),
                    ("frequency", "Repeat purchases."),
                    ("recency", "Age at the last purchase."),
                    ("t", "Age at the end of the period."),
                ],
                "SELECT bgnbd_p_alive(p.params, s.frequency, s.recency, s.t) FROM summary s, fitted p",
            ),
        ),
        ScalarFn::udf(
            "bgnbd_expected_purchases",
            &[Arg::Params, Arg::Number, Arg::Number, Arg::Number, Arg::Number],
            5,
            DataType::Float64,
            expected_purchases,
            doc(
                SCORING,
                "Expected number of purchases in the next `horizon` time units (the fitted \
                 model's unit) of a customer with the given history (BG/NBD eq. 10). NULL when \
                 the hypergeometric series does not converge (a horizon far beyond the data).",
                "bgnbd_expected_purchases(params, horizon, frequency, recency, t)",
                &[
                    ("params", "The struct returned by bgnbd_fit."),
                    ("horizon", "Length of the future period, in the model's unit."),
                    ("frequency", "Repeat purchases."),
                    ("recency", "Age at the last purchase."),
                    ("t", "Age at the end of the period."),
                ],
                "SELECT bgnbd_expected_purchases(p.params, 52, s.frequency, s.recency, s.t) FROM summary s, fitted p",
            ),
        ),
        ScalarFn::udf(
            "bgnbd_expected_purchases_new",
            &[Arg::Params, Arg::Number],
            2,
            DataType::Float64,
            expected_purchases_new,
            doc(
                SCORING,
                "Expected purchases of a newly acquired customer in their first `t` time units \
                 (BG/NBD eq. 9), in the fitted model's unit.",
                "bgnbd_expected_purchases_new(params, t)",
                &[
                    ("params", "The struct returned by bgnbd_fit."),
                    ("t", "Length of the period."),
                ],
                "SELECT bgnbd_expected_purchases_new(bgnbd_fit(frequency, recency, t), 52) FROM summary",
            ),
        ),
        ScalarFn::udf(
            "gamma_gamma_expected_spend",
            &[Arg::Params, Arg::Number, Arg::Number],
            3,
            DataType::Float64,
            expected_spend,
            doc(
                SCORING,
                "Expected value of a customer's future transactions (Gamma-Gamma eq. 5): the \
                 customer's mean spend shrunk toward the population mean, more so for few \
                 purchases. For frequency 0 it is the population mean (monetary is ignored). \
                 NULL when the fitted q ≤ 1 (no finite mean).",
                "gamma_gamma_expected_spend(params, frequency, monetary)",
                &[
                    ("params", "The struct returned by gamma_gamma_fit."),
                    ("frequency", "Repeat purchases."),
                    ("monetary", "Mean value of the repeat purchases."),
                ],
                "SELECT gamma_gamma_expected_spend(g.params, s.frequency, s.monetary) FROM summary s, spend g",
            ),
        ),
        ScalarFn::udf(
            "clv",
            &[
                Arg::Params,
                Arg::Params,
                Arg::Number,
                Arg::Number,
                Arg::Number,
                Arg::Number,
                Arg::Text,
                Arg::Number,
            ],
            8,
            DataType::Float64,
            clv,
            doc(
                SCORING,
                "Discounted customer lifetime value over a horizon with an explicit unit: the sum \
                 over each period i of the horizon's unit of (expected purchases in period i) × \
                 (expected spend) / (1 + discount_rate)^i. The BG/NBD parameters must carry the \
                 unit they were fitted in (bgnbd_fit's fourth argument); the horizon is converted \
                 to it, so '12 months' means the same on a model fitted in days or weeks.",
                "clv(bgnbd_params, gamma_gamma_params, frequency, recency, t, monetary, horizon, discount_rate)",
                &[
                    ("bgnbd_params", "From bgnbd_fit(frequency, recency, t, unit)."),
                    ("gamma_gamma_params", "From gamma_gamma_fit."),
                    ("frequency", "Repeat purchases."),
                    ("recency", "Age at the last purchase, in the model's unit."),
                    ("t", "Age at the end of the period, in the model's unit."),
                    ("monetary", "Mean value of the repeat purchases."),
                    ("horizon", "A count and a unit: '12 months', '52 weeks', '1 year'."),
                    (
                        "discount_rate",
                        "Discount rate per period of the horizon's unit, e.g. 0.01 a month.",
                    ),
                ],
                "SELECT clv(b.params, g.params, s.frequency, s.recency, s.t, s.monetary, '12 months', 0.01) FROM summary s, models b, spend g",
            ),
        ),
    ]
}

/// Validates one customer's history (the same rules as the fit).
fn history(function: &str, x: f64, tx: f64, t: f64) -> Result<()> {
    if !(x >= 0.0 && x.fract() == 0.0 && x.is_finite()) {
        return exec_err!("{function}: frequency must be a whole number ≥ 0, got {x}");
    }
    if !(tx >= 0.0 && t >= 0.0 && tx.is_finite() && t.is_finite()) {
        return exec_err!("{function}: recency and t must be ≥ 0, got recency {tx} and t {t}");
    }
    if tx > t * (1.0 + 1e-9) {
        return exec_err!("{function}: recency {tx} is greater than t {t}");
    }
    Ok(())
}

fn p_alive(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let name = "bgnbd_p_alive";
    let params = ParamsArg::new(name, &args[0], BGNBD, "bgnbd_fit")?;
    let (x, tx, t) = (
        Numbers::new(name, &args[1])?,
        Numbers::new(name, &args[2])?,
        Numbers::new(name, &args[3])?,
    );
    float_result(args, rows, |row| {
        let (Some(p), Some(x), Some(tx), Some(t)) = (params.get::<4>(row), x.get(row), tx.get(row), t.get(row)) else {
            return Ok(None);
        };
        history(name, x, tx, t)?;
        Ok(Some(bgnbd_from(p).p_alive(x, tx, t)))
    })
}

fn expected_purchases(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let name = "bgnbd_expected_purchases";
    let params = ParamsArg::new(name, &args[0], BGNBD, "bgnbd_fit")?;
    let horizon = Numbers::new(name, &args[1])?;
    let (x, tx, t) = (
        Numbers::new(name, &args[2])?,
        Numbers::new(name, &args[3])?,
        Numbers::new(name, &args[4])?,
    );
    float_result(args, rows, |row| {
        let (Some(p), Some(h), Some(x), Some(tx), Some(t)) = (
            params.get::<4>(row),
            horizon.get(row),
            x.get(row),
            tx.get(row),
            t.get(row),
        ) else {
            return Ok(None);
        };
        history(name, x, tx, t)?;
        if h.is_nan() || h < 0.0 {
            return exec_err!("{name}: horizon must be ≥ 0, got {h}");
        }
        Ok(bgnbd_from(p).expected_purchases(h, x, tx, t))
    })
}

fn expected_purchases_new(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let name = "bgnbd_expected_purchases_new";
    let params = ParamsArg::new(name, &args[0], BGNBD, "bgnbd_fit")?;
    let horizon = Numbers::new(name, &args[1])?;
    float_result(args, rows, |row| {
        let (Some(p), Some(h)) = (params.get::<4>(row), horizon.get(row)) else {
            return Ok(None);
        };
        if h.is_nan() || h < 0.0 {
            return exec_err!("{name}: t must be ≥ 0, got {h}");
        }
        Ok(bgnbd_from(p).expected_purchases_new(h))
    })
}

fn expected_spend(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let name = "gamma_gamma_expected_spend";
    let params = ParamsArg::new(name, &args[0], GAMMA_GAMMA, "gamma_gamma_fit")?;
    let (x, m) = (Numbers::new(name, &args[1])?, Numbers::new(name, &args[2])?);
    float_result(args, rows, |row| {
        let (Some(p), Some(x)) = (params.get::<3>(row), x.get(row)) else {
            return Ok(None);
        };
        let m = match (m.get(row), x) {
            (Some(m), _) => m,
            (None, 0.0) => 0.0,
            (None, _) => return Ok(None),
        };
        if !(x >= 0.0 && x.fract() == 0.0) || m < 0.0 {
            return exec_err!("{name}: frequency must be a whole number ≥ 0 and monetary ≥ 0, got {x} and {m}");
        }
        Ok(gamma_gamma_from(p).expected_spend(x, m))
    })
}

fn clv(args: &[ColumnarValue], rows: usize) -> Result<ColumnarValue> {
    let name = "clv";
    let bg = ParamsArg::new(name, &args[0], BGNBD, "bgnbd_fit")?;
    let gg = ParamsArg::new(name, &args[1], GAMMA_GAMMA, "gamma_gamma_fit")?;
    let (x, tx, t, m) = (
        Numbers::new(name, &args[2])?,
        Numbers::new(name, &args[3])?,
        Numbers::new(name, &args[4])?,
        Numbers::new(name, &args[5])?,
    );
    let horizons = Strings::new(name, &args[6])?;
    let rates = Numbers::new(name, &args[7])?;
    // The horizon is nearly always a literal: parse it once.
    let constant_horizon = match &horizons {
        Strings::Scalar(Some(text)) => Some(parse_horizon(name, text)?),
        _ => None,
    };
    float_result(args, rows, |row| {
        let (Some(bp), Some(gp), Some(x), Some(tx), Some(t), Some(rate)) = (
            bg.get::<4>(row),
            gg.get::<3>(row),
            x.get(row),
            tx.get(row),
            t.get(row),
            rates.get(row),
        ) else {
            return Ok(None);
        };
        let (count, horizon_unit) = match constant_horizon {
            Some(h) => h,
            None => match horizons.get(row) {
                Some(text) => parse_horizon(name, text)?,
                None => return Ok(None),
            },
        };
        let Some(model_unit) = bg.unit(name, row)? else {
            return exec_err!(
                "{name}: the BG/NBD parameters do not say their time unit; fit them with bgnbd_fit(frequency, recency, t, 'week') (or 'day', 'month')"
            );
        };
        history(name, x, tx, t)?;
        if rate.is_nan() || rate <= -1.0 {
            return exec_err!("{name}: discount_rate must be greater than -1, got {rate}");
        }
        // As in gamma_gamma_expected_spend: a missing spend is no evidence
        // only for a customer without repeat purchases.
        let m = match (m.get(row), x) {
            (Some(m), _) => m,
            (None, 0.0) => 0.0,
            (None, _) => return Ok(None),
        };
        let model = bgnbd_from(bp);
        let Some(spend) = gamma_gamma_from(gp).expected_spend(x, m) else {
            return Ok(None);
        };
        Ok(discounted_value(
            &model,
            spend,
            x,
            tx,
            t,
            count,
            horizon_unit,
            model_unit,
            rate,
        ))
    })
}

/// Σ_{i=1..n} (E[Y(i·u)] − E[Y((i−1)·u)]) · spend / (1+d)^i, with u the
/// horizon's unit in model units; a fractional last period is prorated.
#[allow(clippy::too_many_arguments)]
fn discounted_value(
    model: &super::bgnbd::BgNbd,
    spend: f64,
    x: f64,
    tx: f64,
    t: f64,
    count: f64,
    horizon_unit: Unit,
    model_unit: Unit,
    rate: f64,
) -> Option<f64> {
    let step = model_unit.per(horizon_unit);
    let mut total = 0.0;
    let mut previous = 0.0;
    let whole = count.floor() as usize;
    let fraction = (count > whole as f64).then_some(count);
    for (k, end) in (1..=whole).map(|i| i as f64).chain(fraction).enumerate() {
        let expected = model.expected_purchases(end * step, x, tx, t)?;
        total += (expected - previous) * spend / (1.0 + rate).powi(k as i32 + 1);
        previous = expected;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoring::bgnbd::BgNbd;

    #[test]
    fn clv_without_discount_is_expected_purchases_times_spend() {
        let model = BgNbd {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        let spend = 35.0;
        // 12 months on a weekly model: 52.18 weeks.
        let clv = discounted_value(&model, spend, 2.0, 30.43, 38.86, 12.0, Unit::Month, Unit::Week, 0.0).unwrap();
        let direct = model.expected_purchases(365.25 / 7.0, 2.0, 30.43, 38.86).unwrap() * spend;
        assert!((clv - direct).abs() < 1e-9, "{clv} vs {direct}");
        // Discounting lowers it; the unit of the horizon matters.
        let discounted =
            discounted_value(&model, spend, 2.0, 30.43, 38.86, 12.0, Unit::Month, Unit::Week, 0.01).unwrap();
        assert!(discounted < clv);
        let weeks = discounted_value(&model, spend, 2.0, 30.43, 38.86, 12.0, Unit::Week, Unit::Week, 0.0).unwrap();
        assert!(
            weeks < clv / 3.0,
            "12 weeks is much less than 12 months: {weeks} vs {clv}"
        );
    }
}
