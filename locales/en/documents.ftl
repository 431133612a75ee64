## Pre-Information Form and Distance Sales Contract
## (templates/documents/*.html; version: src/checkout/documents.rs TEMPLATE_VERSION)
##
## Bump TEMPLATE_VERSION when you change the wording: consent records keep the SHA-256 and
## the version of the text shown.
##
## Variables (the order's data, "—" when empty):
##   $seller_title $seller_address $seller_phone $seller_email $seller_mersis $seller_website
##   $buyer_name $buyer_email $buyer_phone $order_id $description $amount $installment
##   $order_date $payment_method $platform

## Shared
# Shown instead of an empty field.
legal-none = —
legal-goods-default = The goods/services specified on the seller’s order page
# The Turkish text is the original; translations say so.
legal-translation-note = This is a translation; the Turkish text prevails.
legal-seller-title = Legal name:
legal-seller-mersis = MERSİS number:
legal-address = Address:
legal-phone = Phone:
legal-email = E-mail:
legal-website = Website:
legal-order-id = Order number:
legal-order-date = Order date:
legal-goods = Goods/services:
legal-total = Total price (all taxes included):
legal-payment-method = Payment method:
legal-installment = Installments:
# The installment line when the buyer chooses the number of installments on the payment page.
legal-installment-choice = Single payment, or the number of installments you choose on the payment page

## Pre-Information Form
preinfo-title = Pre-Information Form
preinfo-intro = This form, prepared under Consumer Protection Law No. 6502 and the Distance Contracts Regulation, informs you about your order before you become obliged to pay. { legal-translation-note }

preinfo-summary-title = Summary: what to know before you pay
preinfo-summary-payment = Payment:
preinfo-summary-payment-value = { $payment_method }, { $installment }
preinfo-summary-withdrawal = Right of withdrawal:
preinfo-summary-withdrawal-text = You may withdraw within 14 days of receiving the goods (for services, of concluding the contract) without giving any reason or paying any penalty. Exceptions are listed in section 6.

preinfo-seller-heading = 1. Seller
preinfo-seller-contact = Use the address and contact details above for withdrawal notices, requests and complaints.

preinfo-order-heading = 2. Subject and main characteristics of the order
preinfo-order-details = Details such as quantity, model, colour and duration are as stated on the seller’s order page.

preinfo-price-heading = 3. Price and payment
preinfo-price-total = Total price (VAT and all other taxes included):
# When the buyer cannot choose installments (single payment or the merchant's fixed count).
preinfo-price-text = Any delivery charge is included in the total price. No amount other than the total price above will be charged to your card for this order. Installments are posted to your statement by your card issuer.
# When the buyer chooses the number of installments on the payment page (an interest charge may apply).
preinfo-price-text-installments = Any delivery charge is included in the total price. For a single payment, no amount other than the total price above will be charged to your card for this order. For an installment payment, the interest charge (vade farkı) shown in the installment table on the payment page for the option you choose, if any, is added to the total price; the total charged to your card is shown in that option's row. Installments are posted to your statement by your card issuer.

preinfo-delivery-heading = 4. Delivery and performance
preinfo-delivery-text = The goods or services are delivered in accordance with the delivery terms stated on the seller’s order page, to the address you gave in your order or, for digital goods and services, by the agreed method. Unless a shorter period is stated on the order page, delivery takes place within the legal maximum of 30 days from the date the order reaches the seller. Otherwise, you may terminate the contract.
preinfo-delivery-impossible = If the seller learns that the order cannot be fulfilled, it will notify you within 3 days and refund all payments received within 14 days at the latest.

preinfo-withdrawal-heading = 5. Right of withdrawal
preinfo-withdrawal-period = Period:
preinfo-withdrawal-period-text = 14 days, without giving any reason or paying any penalty.
preinfo-withdrawal-start = Start:
preinfo-withdrawal-start-text = For goods, the day the goods are delivered to you or to a third party you designate (other than the carrier); for several goods delivered separately, the day the last item is delivered; for services, the day the contract is concluded. You may also withdraw before the goods are delivered.
preinfo-withdrawal-how = How to withdraw:
preinfo-withdrawal-how-text = Before the period expires, send a clear notice in writing to the address in section 1 or by e-mail (a durable medium) to the e-mail address given there, preferably stating your order number.
preinfo-withdrawal-return = Returning the goods:
preinfo-withdrawal-return-text = The goods must be sent back to the seller within 10 days of your withdrawal notice. If you use the carrier designated by the seller for returns, the seller bears the cost of return; for defective goods, return costs can never be charged to you.
preinfo-withdrawal-refund = Refund:
preinfo-withdrawal-refund-text = Within 14 days at the latest from the day your withdrawal notice reaches the seller, the seller refunds all payments received, including delivery charges, using the same payment method and without any cost to you. Installment refunds are credited according to your card issuer’s practice.
preinfo-withdrawal-use = You are not liable for changes or deterioration resulting from using the goods during the withdrawal period in line with their operation, technical specifications and instructions for use.

preinfo-exceptions-heading = 6. Cases where the right of withdrawal does not apply
preinfo-exceptions-intro = Under Article 15 of the Distance Contracts Regulation, the right of withdrawal does not apply in particular to contracts for:
preinfo-exception-1 = goods or services whose price depends on fluctuations in the financial markets beyond the seller’s control;
preinfo-exception-2 = goods made to the buyer’s specifications or clearly personalised;
preinfo-exception-3 = goods that deteriorate quickly or may pass their expiry date;
preinfo-exception-4 = goods whose packaging, tape, seal or wrapping has been opened after delivery and which are unsuitable for return for health or hygiene reasons;
preinfo-exception-5 = goods which, after delivery, are inseparably mixed with other items by their nature;
preinfo-exception-6 = books, digital content and computer consumables whose protective elements have been opened, and periodicals such as newspapers and magazines other than under a subscription;
preinfo-exception-7 = accommodation, transport of goods, car rental, catering and leisure services to be provided on a specific date or period;
preinfo-exception-8 = services performed instantly in electronic form, and digital content or intangible goods delivered instantly;
preinfo-exception-9 = services whose performance began with your consent before the withdrawal period expired;
preinfo-exception-10 = the other cases listed in the Regulation.

preinfo-complaints-heading = 7. Complaints and remedies
preinfo-complaints-text = You may send requests and complaints to the seller using the contact details in section 1. In case of a dispute, you may apply to the Consumer Arbitration Committee (Tüketici Hakem Heyeti) at your place of residence or where the transaction took place, within the monetary limits announced each year by the Ministry of Trade, and to the Consumer Court (Tüketici Mahkemesi) for disputes above those limits. Before filing a case at the Consumer Court, applying to a mediator is mandatory.

preinfo-security-heading = 8. Payment security
preinfo-security-page = Payment page:
preinfo-security-text = Your payment is taken on the secure payment page of the service named above. Your card details are not shared with the seller and are not stored by the seller. Your card issuer may ask for additional verification (3-D Secure) during the transaction. The payment page service is not a party to this sale; obligations relating to the goods or services rest with the seller.
preinfo-security-confirm = You confirm reading this form by ticking the consent box on the payment page. You can keep a copy using your browser’s print function.

## Distance Sales Contract
contract-title = Distance Sales Contract

contract-parties-heading = Article 1 – Parties
contract-seller = Seller
contract-buyer = Buyer
contract-buyer-name = Full name:

contract-subject-heading = Article 2 – Subject of the contract
contract-subject-text = This contract sets out the parties’ rights and obligations, under Consumer Protection Law No. 6502 and the Distance Contracts Regulation, for the sale and delivery of the following goods or services ordered electronically by the buyer.
# Shown only when the buyer chooses the number of installments on the payment page.
contract-subject-installments = For an installment payment, the interest charge (vade farkı) shown in the installment table on the payment page for the option the buyer chooses, if any, is added to the total price; the total charged to the buyer’s card is shown in that option’s row.

contract-general-heading = Article 3 – General provisions
contract-general-1 = The buyer acknowledges having read the Pre-Information Form on the main characteristics, total price including taxes, payment, delivery and right of withdrawal, and having confirmed it electronically.
contract-general-2 = The seller must deliver the goods or services complete, free of defects and as described in the order, together with any warranty certificate and user manual.
contract-general-3 = Delivery is made in accordance with the terms stated on the seller’s order page, to the address given by the buyer in the order or, for digital goods and services, by the agreed method. Unless a shorter period is stated, delivery takes place within 30 days at the latest from the date the order reaches the seller.
contract-general-4 = If the seller learns that performance of the contract has become impossible, it will notify the buyer within 3 days and refund all payments received within 14 days at the latest.
contract-general-5 = If for any reason the card issuer does not pay the price to the seller, or the transaction is cancelled, the seller is released from its obligation to deliver. In that case, any goods already delivered without payment are returned by the buyer to the seller.
contract-general-6 = In the case of defective goods or services, the buyer’s statutory remedies under Law No. 6502 are reserved.
contract-general-7 = Payment is taken on a secure payment page (payment page service: { $platform }). Card details are not shared with the seller. The payment page service is not a party to this contract.

contract-withdrawal-heading = Article 4 – Right of withdrawal
contract-withdrawal-right = The buyer may withdraw from the contract within 14 days from the day the goods are delivered to the buyer or to a third party designated by the buyer (other than the carrier), or for services from the day the contract is concluded, without giving any reason and without paying any penalty. For goods delivered separately, the period starts with the last delivery. The buyer may also withdraw before delivery.
contract-withdrawal-notice = Notice of withdrawal is given before the period expires, in writing to the seller’s address in Article 1 or by a durable medium such as e-mail to the seller’s e-mail address. The buyer sends the goods back to the seller within 10 days of the notice; if the carrier designated by the seller for returns is used, the seller bears the cost of return, and return costs for defective goods can never be charged to the buyer.
contract-withdrawal-refund = Within 14 days at the latest from the day the withdrawal notice reaches the seller, the seller refunds all payments received, including delivery charges, using the same payment method and without any cost to the buyer. Installment refunds are credited according to the card issuer’s practice.

contract-exceptions-heading = Article 5 – Exceptions to the right of withdrawal
contract-exceptions-intro = The right of withdrawal does not apply in the cases listed in Article 15 of the Distance Contracts Regulation, mainly:
contract-exception-1 = goods made to the buyer’s specifications or personal needs;
contract-exception-2 = goods that deteriorate quickly or may pass their expiry date;
contract-exception-3 = goods whose protective elements have been opened after delivery and which are unsuitable for return for health or hygiene reasons;
contract-exception-4 = books, digital content and computer consumables whose protective elements have been opened;
contract-exception-5 = accommodation, transport, car rental, catering and leisure services to be provided on a specific date or period;
contract-exception-6 = services performed instantly in electronic form and digital content delivered instantly;
contract-exception-7 = services whose performance began with the buyer’s consent before the withdrawal period expired.

contract-default-heading = Article 6 – Default
contract-default-text = If either party fails to perform its obligations on time, the other party’s rights under the Turkish Code of Obligations No. 6098 and Law No. 6502 are reserved. If the buyer defaults on card payments, interest may be payable to the card issuer under the buyer’s card agreement, and the buyer is liable to the issuer accordingly.

contract-records-heading = Article 7 – Retention of records
contract-records-text = The seller keeps the records of pre-information, confirmation, the order and any withdrawal notice relating to this contract for 3 years, in accordance with Article 20 of the Distance Contracts Regulation. These records may be used as evidence in case of a dispute.

contract-disputes-heading = Article 8 – Dispute resolution
contract-disputes-text = For disputes arising from this contract, the Consumer Arbitration Committee (Tüketici Hakem Heyeti) at the buyer’s place of residence or where the transaction took place is competent within the monetary limits announced each year by the Ministry of Trade, and the Consumer Court (Tüketici Mahkemesi) is competent for disputes above those limits. Before filing a case at the Consumer Court, applying to a mediator is mandatory.

contract-effect-heading = Article 9 – Entry into force
contract-effect-text = This contract is concluded and enters into force when the buyer confirms it electronically on the payment page. The buyer acknowledges having read and understood all its provisions before confirming.
