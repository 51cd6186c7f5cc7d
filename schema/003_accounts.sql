-- 003_accounts.sql — one way to create or update a subscriber, shared by
-- `gatewayd accounts import` and POST /v1/internal/accounts.

CREATE FUNCTION upsert_account(
    p_contract    text,
    p_phone       text,
    p_email       text,
    p_holder_name text,
    p_status      text,
    p_monthly_fee bigint,
    p_balance     bigint)
RETURNS TABLE (result text, new_balance bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_id  bigint;
    v_bal bigint;
    adj   adjust_balance_result;
BEGIN
    INSERT INTO accounts (contract, phone, email, holder_name, status, monthly_fee, balance)
    VALUES (p_contract, p_phone, p_email, coalesce(p_holder_name, ''), coalesce(p_status, 'active'),
            coalesce(p_monthly_fee, 0), coalesce(p_balance, 0))
    ON CONFLICT (contract) DO NOTHING
    RETURNING accounts.id, accounts.balance INTO v_id, v_bal;
    IF FOUND THEN
        result := 'created';
        new_balance := v_bal;
        RETURN NEXT;
        RETURN;
    END IF;

    UPDATE accounts a
       SET phone       = coalesce(p_phone, a.phone),
           email       = coalesce(p_email, a.email),
           holder_name = coalesce(p_holder_name, a.holder_name),
           status      = coalesce(p_status, a.status),
           monthly_fee = coalesce(p_monthly_fee, a.monthly_fee)
     WHERE a.contract = p_contract
    RETURNING a.id, a.balance INTO v_id, v_bal;

    -- A different balance from billing is a correction: an adjustment row, never an overwrite,
    -- so balance = opening_balance + sum(ledger) keeps holding.
    IF p_balance IS NOT NULL AND p_balance <> v_bal THEN
        adj := adjust_balance(p_contract, p_balance - v_bal, 'balance set by account import');
        v_bal := adj.balance_after;
    END IF;
    result := 'updated';
    new_balance := v_bal;
    RETURN NEXT;
END;
$$;
COMMENT ON FUNCTION upsert_account(text, text, text, text, text, bigint, bigint) IS
    'Creates the subscriber (result created; balance becomes the opening balance) or updates the given '
    'fields, NULL meaning keep (result updated). A changed balance on an existing account is booked as an '
    'adjustment ledger row. Returns the balance after.';
