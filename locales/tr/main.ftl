## Genel
secure-payment = Güvenli ödeme
footer-text = Kart bilgileriniz şifreli bağlantıyla alınır ve satıcıyla paylaşılmaz. 3-D Secure ile korunur.
continue = Devam et
home-text = Kapı güvenli ödeme sayfasıdır. Bir ödeme başlatmak için satıcının sitesinden yönlendirilmeniz gerekir.

## Hata sayfaları
title-error = Ödeme başlatılamadı
title-expired = Ödeme süresi doldu
title-not-found = Ödeme bulunamadı
error-field = İlgili alan
error-code = Hata kodu
error-next-step = Lütfen satıcının sitesine dönüp yeniden deneyin. Sorun sürerse bu hata kodunu satıcıya iletin.

## Kart sayfası
card-page-title = Kart ile ödeme
label-merchant = Satıcı
label-order = Sipariş no
label-description = Açıklama
label-installment = Taksit
label-expires = Son işlem saati
label-amount = Tutar
label-card = Kart
label-auth-code = Onay kodu
form-has-errors = Lütfen aşağıdaki alanları düzeltin
label-card-holder = Kart üzerindeki ad soyad
label-card-number = Kart numarası
label-expiry = Son kullanma tarihi
label-exp-month = Son kullanma ayı
label-exp-month-short = Ay
label-exp-year = Son kullanma yılı
label-exp-year-short = Yıl
label-cvv = Güvenlik kodu (CVV)
hint-cvv = Kartın arkasındaki 3 haneli kod (American Express'te önyüzdeki 4 haneli kod).
hint-cvv-amex = Kartın önyüzündeki 4 haneli kod.
hint-cvv-other = Kartın arkasındaki 3 haneli kod.
countdown-expired = süre doldu
doc-preinfo-title = Ön Bilgilendirme Formu
doc-contract-title = Mesafeli Satış Sözleşmesi
consent-preinfo = Ön Bilgilendirme Formu'nu okudum, bilgilendirildiğimi onaylıyorum.
consent-contract = Mesafeli Satış Sözleşmesi'ni okudum ve kabul ediyorum.
pay-button = Ödeme yükümlülüğü içeren siparişi onayla: { $amount } öde
pay-obligation = Bu düğmeye bastığınızda { $merchant } satıcısına { $amount } ödeme yükümlülüğü altına girersiniz.
switch-language = Read this page in English
cancel-payment = Ödemeden vazgeç ve satıcıya dön
installment-single = Tek çekim
installment-count = { $count } taksit
doc-payment-method = Kredi kartı / banka kartı

## Kart doğrulama hataları
card-error-pan-missing = Kart numarasını girin.
card-error-pan-digits = Kart numarası yalnızca rakamlardan oluşmalıdır.
card-error-pan-luhn = Kart numarası hatalı; lütfen kontrol edin.
card-error-brand = Bu kart türü kabul edilmiyor (Visa, Mastercard, American Express, Troy).
card-error-pan-length = Kart numarasının uzunluğu kart türüne uymuyor.
card-error-expiry-invalid = Son kullanma tarihini (ay ve yıl) seçin.
card-error-expired = Kartın son kullanma tarihi geçmiş.
card-error-cvv = Güvenlik kodu kart türüne göre 3 ya da 4 haneli olmalıdır.
card-error-holder-missing = Kart üzerindeki adı girin.
card-error-holder-invalid = Ad yalnızca harf, boşluk ve . ' - içerebilir (2–64 karakter).
consent-required-preinfo = Devam etmek için Ön Bilgilendirme Formu'nu onaylayın.
consent-required-contract = Devam etmek için Mesafeli Satış Sözleşmesi'ni kabul edin.

## 3-D Secure yönlendirme
to-acs-title = Bankanıza yönlendiriliyorsunuz
to-acs-text = 3-D Secure doğrulaması için kartınızı veren bankanın sayfası açılıyor. Açılmazsa düğmeye basın.

## Sonuç sayfası
result-approved-title = Ödemeniz onaylandı
result-approved-text = Ödemeniz başarıyla alındı. Teşekkür ederiz.
result-declined-title = Ödeme onaylanmadı
result-failed-title = Ödeme tamamlanamadı
result-cancelled-title = Ödeme iptal edildi
result-processing-title = Ödemeniz işleniyor
result-processing-text = Lütfen bekleyin; sayfa kendiliğinden yenilenecek.
result-returning = Birkaç saniye içinde satıcının sitesine yönlendirileceksiniz.
return-to = Satıcıya dön:

## Hata kodları
err-KP-1001 = Ödeme isteği okunamadı.
err-KP-1002 = Ödeme isteğinde tanınmayan bir alan var.
err-KP-1003 = Ödeme isteğinde zorunlu bir alan eksik.
err-KP-1004 = Ödeme isteğindeki bir alanın değeri geçersiz.
err-KP-1005 = Ödeme isteğinde aynı alan birden fazla kez gönderilmiş.
err-KP-1006 = Ödeme isteğindeki bir alan satır sonu içeriyor.
err-KP-1007 = İstek çok büyük.
err-KP-1010 = Satıcı tanınmıyor.
err-KP-1011 = Ödeme isteğinin imzası doğrulanamadı.
err-KP-1012 = Ödeme isteğinin süresi geçmiş; lütfen satıcının sitesinden yeniden başlatın.
err-KP-1013 = Bu ödeme isteği daha önce kullanılmış.
err-KP-1014 = Dönüş adresi satıcı için kayıtlı değil.
err-KP-1015 = Tutar geçersiz.
err-KP-1016 = Para birimi desteklenmiyor.
err-KP-1017 = Sipariş numarası geçersiz.
err-KP-1018 = Bu sipariş zaten ödenmiş.
err-KP-1019 = Taksit sayısı geçersiz.
err-KP-2001 = Ödeme bulunamadı.
err-KP-2002 = Ödeme için ayrılan süre doldu. Lütfen satıcının sitesinden yeniden başlatın.
err-KP-2004 = Bu ödeme başka bir tarayıcı oturumunda başlatılmış.
err-KP-2005 = Formun süresi doldu; lütfen sayfayı yenileyip yeniden deneyin.
err-KP-2007 = Ödemeden vazgeçtiniz.
err-KP-3001 = 3-D Secure doğrulaması başarısız oldu.
err-KP-3002 = Kartınızı veren banka işlemi reddetti.
err-KP-3003 = 3-D Secure doğrulaması şu anda yapılamıyor.
err-KP-3004 = Bu 3-D Secure yanıtı daha önce kullanılmış.
err-KP-3005 = 3-D Secure yanıtı geçersiz.
err-KP-3006 = 3-D Secure doğrulamasından vazgeçtiniz.
err-KP-3007 = Kartınızı veren bankanın doğrulama sistemine ulaşılamıyor.
err-KP-4001 = Ödeme bankanız tarafından onaylanmadı.
err-KP-4091 = Kartın bankasına ulaşılamıyor.
err-KP-5000 = Beklenmeyen bir hata oluştu; kartınızdan çekim yapılmadı.

## Banka yanıt kodları
bank-00 = Onaylandı
bank-01 = Bankanızı arayın
bank-04 = Karta el koyunuz
bank-05 = İşlem onaylanmadı
bank-12 = Geçersiz işlem
bank-13 = Geçersiz tutar
bank-14 = Kart numarası hatalı
bank-15 = Kartın bankası bulunamadı
bank-33 = Kartın süresi dolmuş, karta el koyunuz
bank-34 = Muhtemelen çalıntı kart, karta el koyunuz
bank-41 = Kayıp kart, karta el koyunuz
bank-43 = Çalıntı kart, karta el koyunuz
bank-51 = Limit yetersiz / Yetersiz bakiye
bank-54 = Vadesi dolmuş kart
bank-57 = Kart sahibi bu işlemi yapamaz
bank-58 = Bu işleme izin verilmiyor
bank-61 = Limit aşıldı
bank-62 = Kısıtlı kart
bank-65 = Günlük işlem adedi dolmuş
bank-82 = CVV hatalı veya geçersiz
bank-91 = Kartın bankasına ulaşılamıyor
bank-93 = Kartınız e-ticaret işlemlerine kapalıdır
bank-96 = Sistem hatası
bank-other = İşlem bankanız tarafından onaylanmadı

## ACS simülatörü (kartı veren banka)
acs-title = 3-D Secure doğrulama
acs-bank-name = Kapı Test Bankası
acs-intro = Alışverişinizi onaylamak için cep telefonunuza gönderilen 6 haneli doğrulama kodunu girin.
acs-phone = Telefon
acs-otp-label = Doğrulama kodu (SMS)
acs-attempts-left = Kalan deneme hakkı: { $left }
acs-verify = Onayla
acs-resend = Kodu yeniden gönder
acs-cancel = Vazgeç
acs-outbox-link = Simülatör: gönderilen SMS'leri göster
acs-sim-note = Bu sayfa Kapı'nın yerleşik banka simülatörüdür; gerçek bir banka değildir.
acs-unknown = Bu doğrulama işlemi bulunamadı.
acs-finished = Bu doğrulama işlemi tamamlanmış.
acs-invalid = Doğrulama isteği geçersiz.
acs-returning = Satıcının ödeme sayfasına dönülüyor
acs-returning-text = Doğrulama tamamlandı. Yönlendirme olmazsa düğmeye basın.
acs-sms-text = { $merchant } için { $amount } tutarındaki işleminizin doğrulama kodu: { $code }. Bu kodu kimseyle paylaşmayın.
acs-resent = Yeni kod gönderildi; önceki kod artık geçersiz.
acs-resend-limit = Kod yeniden gönderme sınırına ulaşıldı.
acs-resend-wait = Yeni kod istemeden önce biraz bekleyin.
acs-code-expired = Kodun süresi doldu; lütfen yeni kod isteyin.
acs-too-many = Çok fazla kod denemesi yapıldı; lütfen biraz sonra yeniden deneyin.
acs-code-wrong = Kod hatalı. Kalan deneme hakkı: { $left }

## Demo mağaza
demo-title = Kapı Demo Mağaza
demo-intro = Bu küçük mağaza bir satıcının sitesidir. "Satın al" sizi imzalı bir formla Kapı ödeme sayfasına gönderir; "Satın al (API ile)" ise mağazanın sunucusunda bir ödeme oturumu açıp sizi onun adresine yönlendirir.
demo-buy = Satın al
demo-buy-api = Satın al (API ile)
demo-test-cards = Test kartları: 4111 1111 1111 1111 (SMS doğrulamalı), 5555 5555 5555 4444 (doğrudan onay), 4000 0000 0000 9995 (limit yetersiz). Son kullanma tarihi gelecekte herhangi bir ay, CVV herhangi 3 hane.
demo-ok-title = Teşekkürler, ödemeniz alındı
demo-fail-title = Ödeme tamamlanamadı
demo-signature-ok = İmza doğrulandı
demo-signature-bad = İmza GEÇERSİZ
demo-callbacks = Sunucudan sunucuya gelen bildirimler (imzalı form sonucu ve JSON olaylar)
demo-none = Henüz bildirim yok.
demo-back = Mağazaya dön

## API hata kodları
err-KP-6001 = API anahtarı eksik ya da geçersiz.
err-KP-6002 = Bu IP adresinden API çağrısına izin verilmiyor.
err-KP-6003 = İstek gövdesi geçerli bir JSON değil.
err-KP-6004 = İstekte tanınmayan bir alan var.
err-KP-6005 = Bir alanın türü ya da değeri geçersiz veya zorunlu bir alan eksik.
err-KP-6006 = İstek gövdesi application/json olmalıdır.
err-KP-6007 = İstek gövdesi 64 KiB'tan büyük.
err-KP-6010 = Idempotency-Key başlığı geçersiz (1–255 görünür ASCII karakter).
err-KP-6011 = Bu Idempotency-Key başka bir istekle kullanılmış.
err-KP-6012 = Bu Idempotency-Key ile gönderilen istek hâlâ işleniyor.
err-KP-6020 = Ödeme oturumu artık açık değil.
err-KP-6030 = Bu ödeme iptal edilemez.
err-KP-6031 = İptal için gün sonu saati geçti; iade kullanın.
err-KP-6032 = İade tutarı iade edilebilir tutarı aşıyor.
err-KP-6033 = Bu ödeme iade edilemez.
err-KP-6034 = Banka işlemi reddetti.
err-KP-6040 = Olay bulunamadı.
err-KP-6041 = Sorgu parametreleri geçersiz.
err-KP-6042 = Bu olayın gönderileceği bir adres yok.
err-KP-6044 = Böyle bir API adresi yok.
err-KP-1020 = Çok fazla deneme yapıldı; lütfen biraz sonra yeniden deneyin.
err-KP-2008 = Bu bağlantıdan çok sayıda reddedilen ödeme denemesi yapıldı; lütfen daha sonra yeniden deneyin.
err-KP-6050 = API çağrı sınırı aşıldı; Retry-After süresi kadar bekleyin.
