//! The 3-D Secure gates of the bank platforms whose banks run 3-D Secure themselves: what
//! Kapı's auto-submitting form to each gate carries and how it is signed, and how the gate's
//! signed return is checked and read (`bank-protocols.md` §1 NestPay `3d`, §2 Garanti `3D`,
//! §3 PayFor `3DModel`). `bank_gate.rs` drives the journey; this is the wire of each gate.

use secrecy::{ExposeSecret, SecretString};

use super::{card::VaultedCard, payment::Intent};
use crate::{
    domain::{
        Locale, Money,
        threeds::{Eci, MdStatus},
    },
    terminals::{Platform, Terminal},
    wire::{garanti, nestpay, payfor},
};

/// A gate terminal with the secrets its gate signs with.
pub struct GateKeys {
    pub terminal: Terminal,
    /// The provision (API) password: Garanti's `SecurityData` is made of it.
    pub password: SecretString,
    pub store_key: SecretString,
}

/// What one trip to a gate is made of.
pub struct GateTrip<'a> {
    pub money: Money,
    pub intent: Intent,
    pub installment: u8,
    pub locale: Locale,
    /// The order id at the bank (the 3-D Secure transaction's id).
    pub oid: &'a str,
    /// Where the gate posts its result back (both success and failure).
    pub back: &'a str,
    pub client_ip: &'a str,
    pub rnd: &'a str,
    pub card: &'a VaultedCard,
    pub holder: &'a str,
}

/// What a gate's return says, once its signature and order checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateReturn {
    pub md_status: MdStatus,
    /// The bank's reference to the authenticated card (PayFor: its `RequestGuid`).
    pub md: String,
    pub xid: String,
    pub eci: Option<Eci>,
    pub cavv: Option<String>,
}

/// Whether a platform's bank runs 3-D Secure at its own gate.
pub fn runs_3ds(platform: &str) -> bool {
    [Platform::Nestpay, Platform::Garanti, Platform::Payfor]
        .iter()
        .any(|p| p.as_str() == platform)
}

fn pairs(list: Vec<(&str, String)>) -> Vec<(String, String)> {
    list.into_iter().map(|(n, v)| (n.to_owned(), v)).collect()
}

/// The signed fields of the form to the terminal's gate, card included.
pub fn form_fields(keys: &GateKeys, trip: &GateTrip<'_>) -> Vec<(String, String)> {
    match keys.terminal.platform {
        Platform::Garanti => garanti_form(keys, trip),
        Platform::Payfor => payfor_form(keys, trip),
        _ => nestpay_form(keys, trip),
    }
}

/// The gate's return, checked: `None` when its signature or its order id does not check out
/// (nothing about the payment may change then).
pub fn read_return(keys: &GateKeys, fields: &[(String, String)], oid: &str) -> Option<GateReturn> {
    match keys.terminal.platform {
        Platform::Garanti => garanti_return(keys, fields, oid),
        Platform::Payfor => payfor_return(keys, fields, oid),
        _ => nestpay_return(keys, fields, oid),
    }
}

fn nonempty(s: &str) -> Option<String> {
    Some(s.to_owned()).filter(|s| !s.is_empty())
}

fn nestpay_form(keys: &GateKeys, trip: &GateTrip<'_>) -> Vec<(String, String)> {
    let expiry = trip.card.expiry.expose();
    let mut fields = pairs(vec![
        ("clientid", keys.terminal.client_id.clone()),
        ("storetype", "3d".to_owned()),
        (
            "TranType",
            match trip.intent {
                Intent::Sale => "Auth",
                Intent::PreAuth => "PreAuth",
            }
            .to_owned(),
        ),
        ("amount", trip.money.to_decimal_string()),
        ("currency", trip.money.currency().numeric().to_owned()),
        ("oid", trip.oid.to_owned()),
        ("okUrl", trip.back.to_owned()),
        ("failUrl", trip.back.to_owned()),
        ("rnd", trip.rnd.to_owned()),
        ("lang", trip.locale.as_str().to_owned()),
        ("taksit", installment_or(trip.installment, "")),
        ("hashAlgorithm", "ver3".to_owned()),
        ("pan", trip.card.pan.expose().to_owned()),
        (
            "Ecom_Payment_Card_ExpDate_Month",
            expiry.get(2..4).unwrap_or_default().to_owned(),
        ),
        (
            "Ecom_Payment_Card_ExpDate_Year",
            expiry.get(..2).unwrap_or_default().to_owned(),
        ),
        ("cv2", trip.card.cvv.expose().to_owned()),
    ]);
    let signed = nestpay::ver3(
        fields.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        nestpay::REQUEST_EXCLUDED,
        keys.store_key.expose_secret(),
    );
    fields.push(("hash".to_owned(), signed));
    fields
}

fn installment_or(count: u8, single: &str) -> String {
    if count > 1 {
        count.to_string()
    } else {
        single.to_owned()
    }
}

fn nestpay_return(keys: &GateKeys, fields: &[(String, String)], oid: &str) -> Option<GateReturn> {
    let get = |n: &str| crate::form::value(fields, n);
    let expected = nestpay::ver3(
        fields.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        nestpay::RESULT_EXCLUDED,
        keys.store_key.expose_secret(),
    );
    if !crate::wire::same_secret(get("HASH"), &expected) || get("oid") != oid {
        return None;
    }
    Some(GateReturn {
        md_status: MdStatus::parse(get("mdStatus")).unwrap_or(MdStatus::ERROR),
        md: get("md").to_owned(),
        xid: get("xid").to_owned(),
        eci: Eci::parse(get("eci")).ok(),
        cavv: nonempty(get("cavv")),
    })
}

fn garanti_terminal_no(t: &Terminal) -> String {
    t.terminal_no.clone().unwrap_or_default()
}

fn garanti_form(keys: &GateKeys, trip: &GateTrip<'_>) -> Vec<(String, String)> {
    let t = &keys.terminal;
    let terminal_no = garanti_terminal_no(t);
    let expiry = trip.card.expiry.expose();
    let txn_type = match trip.intent {
        Intent::Sale => "sales",
        Intent::PreAuth => "preauth",
    };
    let amount = trip.money.minor().to_string();
    let currency = trip.money.currency().numeric();
    let installment = installment_or(trip.installment, "");
    let sd = garanti::security_data(keys.password.expose_secret(), &terminal_no);
    let hash = garanti::secure3d_hash(
        &garanti::GateHashInput {
            terminal_id: &terminal_no,
            order_id: trip.oid,
            amount: &amount,
            currency,
            success_url: trip.back,
            error_url: trip.back,
            txn_type,
            installment: &installment,
        },
        keys.store_key.expose_secret(),
        &sd,
    );
    pairs(vec![
        (
            "mode",
            crate::acquirer::garanti::mode_for(&t.gate_url).to_owned(),
        ),
        ("apiversion", garanti::API_VERSION.to_owned()),
        ("secure3dsecuritylevel", "3D".to_owned()),
        ("terminalprovuserid", t.user.clone()),
        ("terminaluserid", t.user.clone()),
        ("terminalmerchantid", t.client_id.clone()),
        ("terminalid", terminal_no),
        ("txntype", txn_type.to_owned()),
        ("txnamount", amount),
        ("txncurrencycode", currency.to_owned()),
        ("txninstallmentcount", installment),
        ("orderid", trip.oid.to_owned()),
        ("successurl", trip.back.to_owned()),
        ("errorurl", trip.back.to_owned()),
        ("customeripaddress", trip.client_ip.to_owned()),
        ("lang", trip.locale.as_str().to_owned()),
        ("cardnumber", trip.card.pan.expose().to_owned()),
        (
            "cardexpiredatemonth",
            expiry.get(2..4).unwrap_or_default().to_owned(),
        ),
        (
            "cardexpiredateyear",
            expiry.get(..2).unwrap_or_default().to_owned(),
        ),
        ("cardcvv2", trip.card.cvv.expose().to_owned()),
        ("secure3dhash", hash),
    ])
}

fn garanti_return(keys: &GateKeys, fields: &[(String, String)], oid: &str) -> Option<GateReturn> {
    let get = |n: &str| crate::form::value(fields, n);
    // Rebuilt from the posted fields `hashparams` names; a posted `hashparamsval` is never read.
    let expected = garanti::result_hash(fields, keys.store_key.expose_secret())?;
    // The values are joined without separators and `hashparams` is not signed: only the
    // bank's own list is accepted, and the fields around `mdstatus` are pinned (the terminal,
    // the order, and the provision's fields that a `3D` return leaves empty), so that no
    // character can move across a boundary into or out of `mdstatus`.
    let pinned = get("hashparams") == garanti::RESULT_HASH_PARAMS
        && get("clientid") == garanti_terminal_no(&keys.terminal)
        && ["authcode", "procreturncode", "response"]
            .iter()
            .all(|n| get(n).is_empty())
        && get("mdstatus").len() == 1;
    if !pinned || !crate::wire::same_secret(get("hash"), &expected) || get("oid") != oid {
        return None;
    }

    Some(GateReturn {
        md_status: MdStatus::parse(get("mdstatus")).unwrap_or(MdStatus::ERROR),
        md: get("md").to_owned(),
        xid: get("xid").to_owned(),
        eci: Eci::parse(get("eci")).ok(),
        cavv: nonempty(get("cavv")),
    })
}

fn payfor_form(keys: &GateKeys, trip: &GateTrip<'_>) -> Vec<(String, String)> {
    let t = &keys.terminal;
    let mbr_id = t
        .mbr_id
        .clone()
        .unwrap_or_else(|| payfor::DEFAULT_MBR_ID.to_owned());
    let txn_type = match trip.intent {
        Intent::Sale => "Auth",
        Intent::PreAuth => "PreAuth",
    };
    let amount = trip.money.to_decimal_string();
    let installment = installment_or(trip.installment, "0");
    let hash = payfor::request_hash(
        &payfor::GateHashInput {
            mbr_id: &mbr_id,
            order_id: trip.oid,
            amount: &amount,
            ok_url: trip.back,
            fail_url: trip.back,
            txn_type,
            installment: &installment,
            rnd: trip.rnd,
        },
        keys.store_key.expose_secret(),
    );
    let expiry = trip.card.expiry.expose();
    pairs(vec![
        ("MbrId", mbr_id),
        ("MerchantID", t.client_id.clone()),
        ("UserCode", t.user.clone()),
        ("OrderId", trip.oid.to_owned()),
        (
            "Lang",
            match trip.locale {
                Locale::Tr => "TR",
                Locale::En => "EN",
            }
            .to_owned(),
        ),
        ("SecureType", "3DModel".to_owned()),
        ("TxnType", txn_type.to_owned()),
        ("PurchAmount", amount),
        ("InstallmentCount", installment),
        ("Currency", trip.money.currency().numeric().to_owned()),
        ("OkUrl", trip.back.to_owned()),
        ("FailUrl", trip.back.to_owned()),
        ("Rnd", trip.rnd.to_owned()),
        ("Hash", hash),
        ("CardHolderName", trip.holder.to_owned()),
        ("Pan", trip.card.pan.expose().to_owned()),
        (
            "Expiry",
            format!(
                "{}{}",
                expiry.get(2..4).unwrap_or_default(),
                expiry.get(..2).unwrap_or_default()
            ),
        ),
        ("Cvv2", trip.card.cvv.expose().to_owned()),
    ])
}

fn payfor_return(keys: &GateKeys, fields: &[(String, String)], oid: &str) -> Option<GateReturn> {
    let get = |n: &str| crate::form::value(fields, n);
    let t = &keys.terminal;
    let expected = payfor::response_hash(
        fields,
        &t.client_id,
        &t.user,
        keys.store_key.expose_secret(),
    );
    if !crate::wire::same_secret(get("ResponseHash"), &expected)
        || get("OrderId") != oid
        || !get("AuthCode").is_empty()
    {
        return None;
    }
    // `3DStatus` reads as NestPay's `mdStatus` (1 authenticated; 2–4 half; 0, -1 failed), and
    // counts only with `ProcReturnCode` `V033` (authenticated, not provisioned): the hashed
    // values around it are pinned so none can move into it.
    let md_status = MdStatus::parse(get("3DStatus")).unwrap_or(MdStatus::ERROR);
    let md_status =
        if (1..=4).contains(&md_status.digit()) && get("ProcReturnCode") != payfor::AUTHENTICATED {
            MdStatus::ERROR
        } else {
            md_status
        };
    Some(GateReturn {
        md_status,
        md: get("RequestGuid").to_owned(),
        xid: get("PayerTxnId").to_owned(),
        eci: Eci::parse(get("Eci")).ok(),
        cavv: nonempty(get("PayerAuthenticationCode")),
    })
}
