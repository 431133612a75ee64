//! Payments, merchants and records to feed a store: built through the core's own types and
//! moves, as the checkout would build them.

use kapi::{
    checkout::payment::{
        AcsIds, Authentication, BankAnswer, CardSummary, Intent, Payment, Source, Transition,
    },
    checkout::start::OrderDraft,
    domain::{
        CardBrand, Currency, Customer, Description, Installment, Locale, MerchantId, Money,
        OrderId, ReturnUrl,
        threeds::{Eci, ResponseCode, TransStatus},
    },
    storage::{
        ConsentRecord, EventRecord, EventStatus, MerchantRecord, RefundKind, RefundRecord,
        RefundStatus, ReversalRecord, ReversalStatus, Storage,
    },
};

/// A merchant's secret as sealed under key 1 (format version 1).
pub const SECRET_ENC: &[u8] = &[1, 0, 0, 0, 1, 0xAA];

pub fn merchant(id: &str) -> MerchantRecord {
    MerchantRecord {
        id: id.to_owned(),
        name: "Örnek Mağaza".into(),
        legal_title: "Örnek Ticaret A.Ş.".into(),
        address: "Kadıköy, İstanbul".into(),
        phone: "+90 216 000 00 00".into(),
        email: "destek@ornek.example".into(),
        mersis: "0123456789012345".into(),
        website: "https://ornek.example".into(),
        secret_key_enc: SECRET_ENC.to_vec(),
        return_origins: r#"["https://ornek.example"]"#.into(),
        created_at: 1_000,
        key_lookup: Some(format!("lookup-{id}")),
        prev_secret_key_enc: None,
        prev_key_lookup: None,
        prev_key_expires_at: None,
        webhook_url: Some("https://ornek.example/hooks".into()),
        allowed_ips: "[]".into(),
        frame_origins: "[]".into(),
        installment_plan: None,
        accent_colour: None,
        logo_sha256: None,
        card_attempts: 1,
        prefer_on_us: 0,
    }
}

/// The order of a payment for 150.00 TRY.
pub fn order(order: &str) -> OrderDraft {
    OrderDraft {
        order_id: OrderId::parse(order).unwrap(),
        money: Money::parse("150.00", Currency::Try).unwrap(),
        locale: Locale::Tr,
        installment: Installment::SINGLE,
        description: Description::parse("Kitap").unwrap(),
        customer: Customer::parse("Ayşe Yılmaz", "ayse@example.com", "+905550000000").unwrap(),
        ok_url: ReturnUrl::parse("https://ornek.example/ok").unwrap(),
        fail_url: ReturnUrl::parse("https://ornek.example/fail").unwrap(),
        callback_url: Some(ReturnUrl::parse("https://ornek.example/callback").unwrap()),
        card_attempts: kapi::domain::CardAttempts::ONE,
        intent: Intent::Sale,
    }
}

/// A payment of `order` just created at `at`.
pub fn created(merchant: &str, order_id: &str, at: i64) -> Payment {
    let merchant = MerchantId::parse(merchant).unwrap();
    Payment::new(merchant, order(order_id), Source::Api, at, at + 900_000)
}

pub fn card() -> CardSummary {
    CardSummary {
        brand: CardBrand::Mastercard,
        masked_pan: "555555******4444".into(),
        holder: "AYSE YILMAZ".into(),
        bank: Some("Simülasyon Bankası".into()),
        program: None,
        kind: Some("credit".into()),
    }
}

pub fn submit(p: &Payment, at: i64) -> Payment {
    p.apply(
        Transition::SubmitCard {
            routing: None,
            card: card(),
            threeds_server_trans_id: format!("3ds-{}", p.id),
            client_ip: Some("203.0.113.9".into()),
            installment: Installment::SINGLE,
            installment_fee_minor: 0,
        },
        at,
    )
    .unwrap()
}

pub fn acs_ids(p: &Payment) -> AcsIds {
    AcsIds {
        acs_trans_id: format!("acs-{}", p.id),
        ds_trans_id: format!("ds-{}", p.id),
    }
}

pub fn frictionless(p: &Payment, at: i64) -> Payment {
    p.apply(
        Transition::Frictionless {
            acs: acs_ids(p),
            authentication: Authentication {
                trans_status: TransStatus::Y,
                trans_status_reason: None,
                eci: Eci::parse("02").ok(),
                authentication_value: Some("AAABBBCCC=".into()),
            },
        },
        at,
    )
    .unwrap()
}

pub fn challenge(p: &Payment, at: i64) -> Payment {
    p.apply(
        Transition::Challenge {
            acs: acs_ids(p),
            acs_url: "https://acs.example/challenge".into(),
        },
        at,
    )
    .unwrap()
}

pub fn claim(p: &Payment, at: i64) -> Payment {
    p.apply(
        Transition::Claim {
            terminal_id: "T1".into(),
            attempt_ref: format!("au_{}", p.id),
            intent: p.intent,
        },
        at,
    )
    .unwrap()
}

pub fn answer(code: &str) -> BankAnswer {
    BankAnswer {
        proc_return_code: ResponseCode::parse(code).unwrap(),
        auth_code: Some("A1B2C3".into()),
        host_ref: Some("123456789012".into()),
        transaction_id: Some("26000001".into()),
    }
}

pub fn approve(p: &Payment, at: i64) -> Payment {
    p.apply(
        Transition::Approve {
            answer: answer("00"),
            at,
        },
        at,
    )
    .unwrap()
}

pub fn decline(p: &Payment, at: i64) -> Payment {
    p.apply(
        Transition::Decline {
            answer: answer("51"),
        },
        at,
    )
    .unwrap()
}

pub fn consent(p: &Payment, kind: &str, at: i64) -> ConsentRecord {
    ConsentRecord {
        payment_id: p.id.to_string(),
        document_kind: kind.into(),
        template_version: "2025-01".into(),
        text_sha256: "ab".repeat(32),
        accepted_at: at,
        client_ip: "203.0.113.9".into(),
        user_agent: "Mozilla/5.0".into(),
        locale: "tr".into(),
        document_data: Some(r#"{"locale":"tr"}"#.into()),
    }
}

/// An event of `p`, due at `at`, to the merchant's endpoint (or to none).
pub fn event(p: &Payment, id: &str, at: i64, url: Option<&str>) -> EventRecord {
    EventRecord {
        id: id.to_owned(),
        merchant_id: p.merchant_id.to_string(),
        payment_id: p.id.to_string(),
        kind: "payment.approved".into(),
        payload: format!(r#"{{"id":"{id}"}}"#),
        url: url.map(str::to_owned),
        status: if url.is_some() {
            EventStatus::Pending
        } else {
            EventStatus::NoEndpoint
        },
        attempts: 0,
        next_attempt_at: at,
        lease_until: None,
        created_at: at,
        delivered_at: None,
    }
}

pub fn refund(p: &Payment, id: &str, kind: RefundKind, amount: i64, at: i64) -> RefundRecord {
    RefundRecord {
        id: id.to_owned(),
        payment_id: p.id.to_string(),
        kind,
        amount_minor: amount,
        status: RefundStatus::Pending,
        proc_return_code: None,
        host_ref: None,
        transaction_id: None,
        created_at: at,
        updated_at: at,
    }
}

pub fn reversal(p: &Payment, id: &str, at: i64) -> ReversalRecord {
    ReversalRecord {
        id: id.to_owned(),
        payment_id: p.id.to_string(),
        attempt_ref: p.attempt_ref().unwrap_or("au_x").to_owned(),
        terminal_id: "T1".into(),
        amount_minor: p.charged_minor(),
        currency: "949".into(),
        status: ReversalStatus::Pending,
        attempts: 0,
        next_attempt_at: at,
        lease_until: None,
        not_found_final_at: at + 60_000,
        proc_return_code: None,
        last_error: None,
        created_at: at,
        updated_at: at,
    }
}

/// A merchant `mrc_a` (and `mrc_b`) in a fresh store.
pub async fn with_merchants(s: &Storage) {
    for id in ["mrc_a", "mrc_b"] {
        s.merchants.insert_merchant(&merchant(id)).await.unwrap();
    }
}

/// Writes `p` and then each of `moves` (each computed from the previous), returning the last.
pub async fn stored(s: &Storage, p: Payment, moves: &[fn(&Payment, i64) -> Payment]) -> Payment {
    use kapi::storage::{Cas, Effects};
    s.payments.insert_payment(&p).await.unwrap();
    let mut current = p;
    for (i, m) in moves.iter().enumerate() {
        let at = current.updated_at + 1 + i64::try_from(i).unwrap();
        let next = m(&current, at);
        assert_eq!(
            s.payments
                .save(&current, &next, Effects::default())
                .await
                .unwrap(),
            Cas::Done
        );
        current = next;
    }
    current
}
