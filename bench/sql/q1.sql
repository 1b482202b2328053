SELECT username, budget FROM users WHERE id = :user_id;
